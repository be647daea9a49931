"""The widget demo page `make run` serves on a second site: its backend mints connect sessions for the demo
customer, bound to the page's own origin."""

import json
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection

from apps.connect.demo_host import demo_host_origin, demo_host_server
from apps.ops.management.commands.runall import build_children
from tests.factories import ApplicationFactory, CustomerFactory


@pytest.mark.parametrize(
    ("base_url", "origin"),
    [
        ("http://127.0.0.1:8000", "http://localhost:8001"),
        ("http://localhost:9000", "http://127.0.0.1:8001"),
        ("https://patchbay.example.com", "http://patchbay.example.com:8001"),
    ],
)
def test_the_demo_page_is_on_the_other_loopback_name(base_url, origin):
    assert demo_host_origin(base_url=base_url, port=8001) == origin


def test_runall_starts_the_demo_page_only_when_asked(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    without = build_children(host="127.0.0.1", port=9001, web_workers=1, worker_concurrency=1)
    assert "host" not in {c.name for c in without}
    children = {
        c.name: c.argv
        for c in build_children(host="127.0.0.1", port=9001, web_workers=1, worker_concurrency=1, demo_host_port=9002)
    }
    assert children["host"][0] == sys.executable
    assert children["host"][2:] == ["demo_host", "--bind", "127.0.0.1", "--port", "9002"]


@pytest.fixture
def demo_page(transactional_db, settings):
    settings.PATCHBAY_BASE_URL = "http://127.0.0.1:8000"
    server = demo_host_server(
        bind="127.0.0.1", port=0, origin="", application_slug="demo", customer_external_id="demo-customer"
    )
    port = server.server_address[1]
    origin = f"http://localhost:{port}"
    server.RequestHandlerClass.keywords["origin"] = origin  # known only once the OS picked the port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", origin
    server.shutdown()
    server.server_close()


def fetch(url, *, method="GET"):
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_demo_page_embeds_the_widget_and_its_backend_mints_sessions_for_its_origin(demo_page, client):
    url, origin = demo_page
    assert fetch(url + "/")[0] == 503  # before bootstrap_demo: says what to run
    application = ApplicationFactory(slug="demo", name="Demo Co", allowed_origins=[origin])
    CustomerFactory(application=application, external_id="demo-customer")

    status, page = fetch(url + "/")
    assert status == 200
    assert '<script src="http://127.0.0.1:8000/static/patchbay/v1/connect.js"></script>' in page
    status, body = fetch(url + "/session", method="POST")
    assert status == 200
    token = json.loads(body)["token"]
    assert token not in page

    widget = client.post("/connect/widget/session", {"token": token, "origin": origin})
    assert widget.status_code == 200


def test_an_origin_the_demo_application_does_not_list_gets_a_message_naming_the_fix(demo_page):
    url, _origin = demo_page
    application = ApplicationFactory(slug="demo", allowed_origins=["http://127.0.0.1:8000"])
    CustomerFactory(application=application, external_id="demo-customer")
    status, body = fetch(url + "/session", method="POST")
    assert status == 422
    assert "PATCH /api/v1/application" in json.loads(body)["error"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL sessions")
def test_the_demo_page_keeps_no_database_session_once_a_request_is_answered(demo_page):
    """Each browser connection is served on a thread of its own, whose database connection must go with it."""
    url, origin = demo_page
    application = ApplicationFactory(slug="demo", allowed_origins=[origin])
    CustomerFactory(application=application, external_id="demo-customer")

    def sessions() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cursor.fetchone()[0]

    before = sessions()
    for _ in range(5):
        assert fetch(url + "/")[0] == 200
        assert fetch(url + "/session", method="POST")[0] == 200
    give_up_at = time.monotonic() + 5
    while sessions() > before and time.monotonic() < give_up_at:
        time.sleep(0.05)
    assert sessions() == before
