"""What a webhook delivery looks like on the wire and what each kind of failure leaves on the delivery:
the request a receiver (or the egress proxy in front of it) sees, redirects, timeouts, refused
connections and TLS."""

import base64
import re
import socket
import threading
import time
import tracemalloc
import zlib
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.core import http
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import (
    RESPONSE_EXCERPT_CHARS,
    event_emit,
    webhook_attempt_seconds,
    webhook_deliver,
    webhook_delivery_claim,
)
from tests.factories import ApplicationFactory, ConnectionFactory, CustomerFactory
from tests.provider_server import closed_port_url, running_fake_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver(secret):
    """Emit one event to `url` and make one delivery attempt; returns the delivery as recorded."""

    def send(url: str) -> WebhookDelivery:
        application = ApplicationFactory(webhook_url=url, webhook_secret={"secret": secret})
        connection = ConnectionFactory(application=application, customer=CustomerFactory(application=application))
        delivery = event_emit(type="connection.error", connection=connection)
        return webhook_deliver(delivery_id=delivery.pk)

    return send


def assert_retried_later(delivery: WebhookDelivery) -> None:
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts == 1
    assert delivery.next_attempt_at is not None and delivery.lease_until is None


def test_the_receiver_gets_the_signed_body_byte_for_byte_with_the_webhook_headers(deliver, receiver, secret):
    receiver.on("POST", "/hooks", body={"ok": True})
    delivery = deliver(f"{receiver.url}/hooks")
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.last_response_status == 200 and delivery.last_response_excerpt == '{"ok": true}'
    assert delivery.last_error == ""
    request = receiver.calls("/hooks")[0]
    assert request.target == "/hooks"
    assert Webhook(secret).verify(request.body, request.headers)["id"] == delivery.payload["id"]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Length"] == str(len(request.body))
    assert request.headers["User-Agent"] == "Patchbay-Webhooks/1"
    assert request.headers["Accept"] == "*/*" and request.headers["Accept-Encoding"] == "gzip, deflate"
    assert "Authorization" not in request.headers
    assert request.headers["Host"] == urlsplit(receiver.url).netloc


def test_the_excerpt_keeps_the_start_of_a_long_answer(deliver, receiver):
    receiver.on("POST", "/hooks", status=400, raw="é" + "x" * 2000)
    delivery = deliver(f"{receiver.url}/hooks")
    assert delivery.last_response_status == 400 and delivery.last_error == "HTTP 400"
    assert delivery.last_response_excerpt == ("é" + "x" * 2000)[:RESPONSE_EXCERPT_CHARS]
    assert_retried_later(delivery)


class StreamingReceiver:
    """A receiver that reads the request, answers 200 with `head_lines` and then sends `chunks` of the
    body for as long as they last or the client listens; counts the body bytes it got to send."""

    def __init__(self, head_lines: list[str], chunks):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks"
        self.sent = 0
        self.head = ("HTTP/1.1 200 OK\r\n" + "".join(f"{line}\r\n" for line in head_lines) + "\r\n").encode()
        self.chunks = chunks
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        client, _address = self.listener.accept()
        with client:
            request = b""
            while b"\r\n\r\n" not in request:
                request += client.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"content-length: *(\d+)", head, re.IGNORECASE).group(1))
            while len(body) < length:
                body += client.recv(65536)
            client.sendall(self.head)
            try:
                for chunk in self.chunks:
                    client.sendall(chunk)
                    self.sent += len(chunk)
            except OSError:
                return  # the client closed the connection: what a bounded read does

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)


def test_an_endless_answer_is_read_only_as_far_as_the_excerpt(deliver):
    """A receiver that never stops sending does not hold the worker: the attempt reads the start of the
    answer, records it and lets the connection go."""
    block = b"x" * 65536
    endless = (f"{len(block):x}\r\n".encode() + block + b"\r\n" for _ in range(100_000))  # 6.5 GB
    receiver = StreamingReceiver(["Content-Type: text/plain", "Transfer-Encoding: chunked"], endless)
    try:
        delivery = deliver(receiver.url)
    finally:
        receiver.close()
    assert delivery.status == WebhookDelivery.Status.DELIVERED and delivery.last_response_status == 200
    assert delivery.last_response_excerpt == "x" * RESPONSE_EXCERPT_CHARS
    assert receiver.sent < 64 * 1024 * 1024, "read far more of the answer than the excerpt needs"


def test_a_highly_compressed_answer_is_not_inflated_beyond_the_excerpt(deliver):
    """A gzip answer of 100 KB that inflates to 100 MB: the attempt inflates only what the excerpt needs."""
    compressor = zlib.compressobj(wbits=31)  # gzip framing
    zeros = b"0" * (1024 * 1024)
    bomb = b"".join(compressor.compress(zeros) for _ in range(100)) + compressor.flush()
    receiver = StreamingReceiver(
        ["Content-Type: text/plain", "Content-Encoding: gzip", f"Content-Length: {len(bomb)}"], [bomb]
    )
    tracemalloc.start()
    try:
        delivery = deliver(receiver.url)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        receiver.close()
    assert delivery.last_response_status == 200 and delivery.last_response_excerpt == "0" * RESPONSE_EXCERPT_CHARS
    assert peak < 20 * 1024 * 1024, f"inflated {peak / 1024 / 1024:.0f} MB of the answer in memory"


def test_a_connection_whose_answer_was_read_to_the_end_carries_the_next_delivery(deliver):
    with running_fake_provider(keep_alive=True) as receiver:
        receiver.on("POST", "/hooks", body={"ok": True})
        first, second = deliver(f"{receiver.url}/hooks"), deliver(f"{receiver.url}/hooks")
    assert first.status == second.status == WebhookDelivery.Status.DELIVERED
    assert second.last_response_excerpt == '{"ok": true}'
    first_call, second_call = receiver.calls("/hooks")
    assert first_call.client == second_call.client, "the kept-alive connection was not reused"


def test_a_redirect_is_not_followed_and_the_attempt_is_retried(deliver, receiver):
    """The signed event goes only to the URL the application set; a receiver that moved must update it."""
    receiver.on("POST", "/hooks", status=307, headers={"Location": f"{receiver.url}/elsewhere"})
    receiver.on("POST", "/elsewhere", body={})
    delivery = deliver(f"{receiver.url}/hooks")
    assert delivery.last_response_status == 307
    assert delivery.last_error == "HTTP 307 (redirect not followed: update the webhook URL)", "shown as failing"
    assert_retried_later(delivery)
    assert receiver.calls("/elsewhere") == []


def test_a_receiver_that_does_not_answer_in_time_is_recorded_as_a_read_timeout(deliver, receiver, settings):
    settings.PATCHBAY_WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.on("POST", "/hooks", body={}, delay=1.0)
    delivery = deliver(f"{receiver.url}/hooks")
    assert delivery.last_error == "ReadTimeout" and delivery.last_response_status is None
    assert delivery.last_response_excerpt == ""
    assert_retried_later(delivery)
    assert len(receiver.calls("/hooks")) == 1, "sent once: no retry behind the backoff's back"


def test_a_receiver_that_answers_a_byte_at_a_time_is_cut_off_at_the_attempts_deadline(deliver, receiver, settings):
    """Each byte comes inside the timeout, so only a deadline for the whole attempt ends it; an attempt that
    outlived its lease would let a second attempt of the same delivery start beside it."""
    settings.PATCHBAY_WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.on("POST", "/hooks", body={"padding": "x" * 200}, drip=0.05)  # ~15 s for the whole answer
    started = time.monotonic()
    delivery = deliver(f"{receiver.url}/hooks")
    assert time.monotonic() - started < webhook_attempt_seconds() + 1.5
    assert delivery.last_error == "Timeout" and delivery.last_response_status is None
    assert_retried_later(delivery)
    assert len(receiver.calls("/hooks")) == 1


def test_a_receiver_whose_body_trickles_after_a_2xx_is_recorded_as_delivered(deliver, settings):
    """The status line settled the attempt; the rest of the answer is only for the excerpt."""
    settings.PATCHBAY_WEBHOOK_TIMEOUT_SECONDS = 0.3
    trickle = (time.sleep(0.05) or b"x" for _ in range(300))  # ~15 s for the whole body
    receiver = StreamingReceiver(["Content-Type: text/plain", "Content-Length: 300"], trickle)
    started = time.monotonic()
    try:
        delivery = deliver(receiver.url)
    finally:
        receiver.close()
    assert time.monotonic() - started < webhook_attempt_seconds() + 1.5
    assert delivery.status == WebhookDelivery.Status.DELIVERED and delivery.last_response_status == 200
    assert delivery.last_error == ""


def test_a_2xx_whose_compressed_body_does_not_inflate_is_recorded_as_delivered(deliver):
    """Only the excerpt needed the body: the receiver took the event, so it is not sent again."""
    broken = b"\x1f\x8b\x08\x00not gzip at all"
    receiver = StreamingReceiver(
        ["Content-Type: text/plain", "Content-Encoding: gzip", f"Content-Length: {len(broken)}"], [broken]
    )
    try:
        delivery = deliver(receiver.url)
    finally:
        receiver.close()
    assert delivery.status == WebhookDelivery.Status.DELIVERED and delivery.last_response_status == 200
    assert delivery.last_error == "" and delivery.last_response_excerpt == ""


def test_an_attempts_lease_outlasts_the_attempt(db, settings):
    settings.PATCHBAY_WEBHOOK_TIMEOUT_SECONDS = 60
    application = ApplicationFactory(webhook_url="https://receiver.example/hooks")
    connection = ConnectionFactory(application=application, customer=CustomerFactory(application=application))
    claimed_at = timezone.now()
    delivery = webhook_delivery_claim(delivery_id=event_emit(type="connection.error", connection=connection).pk)
    assert delivery.lease_until - claimed_at > timedelta(seconds=webhook_attempt_seconds())


@pytest.fixture
def unanswered_url():
    """A receiver whose accept queue is full: the kernel drops further connection attempts, so connecting
    to it never completes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        waiting = []
        for _ in range(3):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(listener.getsockname())
            waiting.append(client)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        for client in waiting:
            client.close()


def test_a_receiver_that_does_not_accept_in_time_is_recorded_as_a_connect_timeout(deliver, unanswered_url, settings):
    settings.PATCHBAY_WEBHOOK_TIMEOUT_SECONDS = 0.3
    delivery = deliver(f"{unanswered_url}/hooks")
    assert delivery.last_error == "ConnectTimeout" and delivery.last_response_status is None
    assert_retried_later(delivery)


def test_a_refused_connection_is_recorded_as_a_connection_error(deliver):
    delivery = deliver(f"{closed_port_url()}/hooks")
    assert delivery.last_error == "ConnectionError" and delivery.last_response_status is None
    assert_retried_later(delivery)


def test_deliveries_go_through_the_http_proxy_the_environment_names(deliver, receiver, proxy, secret, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxy.on("POST", "/hooks", body={"via": "proxy"})
    delivery = deliver(f"{receiver.url}/hooks")
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.last_response_excerpt == '{"via": "proxy"}'
    assert receiver.calls("/hooks") == []
    request = proxy.calls("/hooks")[0]
    assert request.target == f"{receiver.url}/hooks", "a proxied request names the whole URL"
    assert request.headers["Host"] == urlsplit(receiver.url).netloc
    assert Webhook(secret).verify(request.body, request.headers)["id"] == delivery.payload["id"]


def test_an_https_receiver_is_reached_through_a_tunnel_from_the_https_proxy(deliver, proxy, monkeypatch):
    """The proxy is asked for a tunnel to the receiver and never sees the event; this one refuses."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    delivery = deliver("https://hooks.example.test/patchbay")
    assert [(request.method, request.target) for request in proxy.requests] == [("CONNECT", "hooks.example.test:443")]
    assert delivery.last_error == "ProxyError" and delivery.last_response_status is None
    assert_retried_later(delivery)


def test_a_receiver_in_no_proxy_is_reached_directly(deliver, receiver, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    receiver.on("POST", "/hooks", body={})
    delivery = deliver(f"{receiver.url}/hooks")
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert len(receiver.calls("/hooks")) == 1
    assert proxy.requests == []


@pytest.mark.parametrize("no_proxy", ["10.0.0.0/8, 127.0.0.0/8", "::1/128,127.0.0.1/32"])
def test_a_receiver_whose_address_is_in_a_no_proxy_network_is_reached_directly(
    deliver, receiver, proxy, monkeypatch, no_proxy
):
    """NO_PROXY often names internal networks rather than hosts, as requests honoured them."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    receiver.on("POST", "/hooks", body={})
    delivery = deliver(f"{receiver.url}/hooks")
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert len(receiver.calls("/hooks")) == 1
    assert proxy.requests == []


def test_a_receiver_outside_the_no_proxy_networks_goes_through_the_proxy(deliver, receiver, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "10.0.0.0/8,not-a-network/99,example.com")
    proxy.on("POST", "/hooks", body={"via": "proxy"})
    delivery = deliver(f"{receiver.url}/hooks")
    assert delivery.last_response_excerpt == '{"via": "proxy"}'
    assert receiver.calls("/hooks") == []


def test_credentials_in_the_webhook_url_are_sent_as_basic_authorization(deliver, receiver):
    receiver.on("POST", "/hooks", body={})
    netloc = urlsplit(receiver.url).netloc
    delivery = deliver(f"http://hook%40user:p%3Ass@{netloc}/hooks")
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    request = receiver.calls("/hooks")[0]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"hook@user:p:ss").decode()
    assert request.target == "/hooks"


def test_credentials_in_the_proxy_url_authenticate_to_the_proxy(deliver, receiver, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://egress:s%3Acret@"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxy.on("POST", "/hooks", body={})
    receiver.on("POST", "/hooks", body={})
    delivery = deliver(f"http://user:pw@{urlsplit(receiver.url).netloc}/hooks")
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    request = proxy.calls("/hooks")[0]
    assert request.headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"egress:s:cret").decode()
    assert request.target == f"{receiver.url}/hooks", "the receiver's credentials are not in the request line"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"user:pw").decode()


@pytest.fixture
def ca_bundle_from_environment(monkeypatch, tmp_path):
    """Name a CA bundle in REQUESTS_CA_BUNDLE for this test; the bundle and the pools built on it are read
    once per process, so they are forgotten before and after."""

    def trust(certificate_pem: bytes) -> None:
        bundle = tmp_path / "private-ca.pem"
        bundle.write_bytes(certificate_pem)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        http._ca_bundle.cache_clear()
        http._forget_pools()

    yield trust
    monkeypatch.undo()
    http._ca_bundle.cache_clear()
    http._forget_pools()


def test_a_receiver_whose_private_ca_the_environment_names_gets_the_event(deliver, ca_bundle_from_environment):
    with running_fake_provider(self_signed_tls=True) as receiver:
        ca_bundle_from_environment(receiver.certificate_pem)
        receiver.on("POST", "/hooks", body={})
        delivery = deliver(f"{receiver.url}/hooks")
    assert delivery.status == WebhookDelivery.Status.DELIVERED and delivery.last_error == ""
    assert len(receiver.calls("/hooks")) == 1


def test_a_tls_receiver_that_answers_a_byte_at_a_time_is_cut_off_too(deliver, ca_bundle_from_environment, settings):
    settings.PATCHBAY_WEBHOOK_TIMEOUT_SECONDS = 0.3
    with running_fake_provider(self_signed_tls=True) as receiver:
        ca_bundle_from_environment(receiver.certificate_pem)
        receiver.on("POST", "/hooks", body={"padding": "x" * 200}, drip=0.05)
        started = time.monotonic()
        delivery = deliver(f"{receiver.url}/hooks")
    assert time.monotonic() - started < webhook_attempt_seconds() + 1.5
    assert delivery.last_error == "Timeout" and delivery.last_response_status is None


def test_a_receiver_whose_certificate_no_public_ca_signed_gets_nothing(deliver):
    with running_fake_provider(self_signed_tls=True) as impostor:
        impostor.on("POST", "/hooks", body={})
        delivery = deliver(f"{impostor.url}/hooks")
    assert delivery.last_error == "SSLError" and delivery.last_response_status is None
    assert_retried_later(delivery)
    assert impostor.requests == []
