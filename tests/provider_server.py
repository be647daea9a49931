"""A real HTTP server standing in for a provider's token, revoke and API endpoints in tests.

Each route answers from a scripted behaviour; every request is recorded so tests can count them.
"""

import contextlib
import ipaddress
import json
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.db import connections as db_connections


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    form: dict
    body: bytes
    target: str = ""  # the request line's target as sent: a path, an absolute URL (through a proxy), host:port
    client: tuple = ()  # the client's (address, port): one port per connection


@dataclass
class FakeProvider:
    url: str
    certificate_pem: bytes = b""  # with self_signed_tls: the certificate it serves, to trust it on purpose
    requests: list[Recorded] = field(default_factory=list)
    routes: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(
        self,
        method: str,
        path: str,
        status: int = 200,
        body=None,
        delay: float = 0.0,
        headers=None,
        raw=None,
        drip: float = 0.0,
    ):
        """Script the answer for a route; `body` may be a callable taking the Recorded request. With `drip`,
        the answer goes out one byte every `drip` seconds, status line first, until the client hangs up."""
        self.routes[(method, path)] = {
            "status": status,
            "body": body,
            "delay": delay,
            "headers": headers,
            "raw": raw,
            "drip": drip,
        }

    def calls(self, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


def closed_port_url() -> str:
    """A loopback URL nobody listens on: a request there is refused before anything is sent."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class LocalHTTPServer(ThreadingHTTPServer):
    """A test server (fake provider, OAuth server, widget host) that accepts as many simultaneous connections
    as a real server would: socketserver's default backlog of 5 drops the handshakes of a batch's eight
    parallel requests (or a browser's) beyond it, and the kernel resends them only after ~0.2 s."""

    request_queue_size = 128


def start_fake_provider(
    *, self_signed_tls: bool = False, keep_alive: bool = False
) -> tuple[FakeProvider, ThreadingHTTPServer]:
    """A running fake provider on a free loopback port; with `self_signed_tls`, it speaks https with a
    certificate no public CA signed, as a misconfigured or impostor server would; with `keep_alive`, it
    keeps each connection open for the next request (HTTP/1.1) instead of closing it after one answer."""
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def log_message(self, *args):
            pass

        def _handle(self, method: str):
            path = self.path if method == "CONNECT" else urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
            recorded = Recorded(
                method, path, dict(self.headers), form, body, target=self.path, client=self.client_address
            )
            provider: FakeProvider = state["provider"]
            with provider.lock:
                provider.requests.append(recorded)
            route = provider.routes.get((method, path))
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route["delay"]:
                time.sleep(route["delay"])
            status = route["status"]
            if route["raw"] is not None:
                payload, content_type = route["raw"].encode(), "text/html"
            else:
                value = _scripted_answer(route["body"], recorded)
                if isinstance(value, tuple):
                    status, value = value
                payload, content_type = json.dumps(value if value is not None else {}).encode(), "application/json"
            if route["drip"]:
                head = (
                    f"HTTP/1.1 {status} Dripping\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
                )
                self._drip(head.encode() + b"\r\n" + payload, every=route["drip"])
                return
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (route["headers"] or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _drip(self, answer: bytes, *, every: float) -> None:
            self.close_connection = True
            for index in range(len(answer)):
                try:
                    self.wfile.write(answer[index : index + 1])
                    self.wfile.flush()
                except OSError:
                    return  # the client hung up
                time.sleep(every)

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def do_CONNECT(self):
            """A proxy tunnel request, recorded under its host:port; unscripted, it is refused (404)."""
            self._handle("CONNECT")

    server = LocalHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    certificate_pem = b""
    if self_signed_tls:
        context, certificate_pem = _self_signed_context()
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    provider = FakeProvider(url=f"{scheme}://127.0.0.1:{server.server_address[1]}", certificate_pem=certificate_pem)
    state["provider"] = provider
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return provider, server


@contextlib.contextmanager
def running_fake_provider(**options) -> Iterator[FakeProvider]:
    """start_fake_provider's provider for the length of a `with` block, its server stopped and its socket
    closed at the end."""
    provider, server = start_fake_provider(**options)
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()


def _scripted_answer(body, recorded: Recorded):
    """The route's answer; a callable that reads the database does it on this server thread's own
    connection, closed here so the test database can be dropped at the end of the run."""
    if not callable(body):
        return body
    try:
        return body(recorded)
    finally:
        db_connections.close_all()


def _self_signed_context() -> tuple[ssl.SSLContext, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
        certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
        cert_path.write_bytes(certificate_pem)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
    return context, certificate_pem


class RotatingTokenEndpoint:
    """A token endpoint that rotates refresh tokens like Auth0, Okta or Xero: every refresh returns a new
    refresh token and the previous one keeps working only for `reuse_seconds` (reuse answers the same
    new pair). Any other refresh token gets invalid_grant. Use as `fake_provider.on("POST", "/token",
    body=endpoint)`; `before_answer` runs after the rotation is recorded and before the answer is sent."""

    def __init__(self, *, current: str, reuse_seconds: float = 0.0, expires_in: int = 3600):
        self.current = current
        self.reuse_seconds = reuse_seconds
        self.expires_in = expires_in
        self.previous: tuple[str, float, dict] | None = None
        self.grants = 0
        self.before_answer = None
        self.lock = threading.Lock()

    def __call__(self, request: Recorded):
        with self.lock:
            presented = request.form.get("refresh_token")
            if presented == self.current:
                self.grants += 1
                answer = {
                    "access_token": f"at-{self.grants}",
                    "refresh_token": f"rt-{self.grants}",
                    "token_type": "bearer",
                    "expires_in": self.expires_in,
                }
                self.previous = (presented, time.monotonic(), answer)
                self.current = answer["refresh_token"]
            elif self.previous and presented == self.previous[0]:
                if time.monotonic() - self.previous[1] > self.reuse_seconds:
                    return 400, {"error": "invalid_grant", "error_description": "refresh token already used"}
                answer = self.previous[2]
            else:
                return 400, {"error": "invalid_grant", "error_description": "unknown refresh token"}
        if self.before_answer is not None:
            self.before_answer()
        return answer
