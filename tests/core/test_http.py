"""The process's outbound HTTP pools (apps.core.http), which provider calls and webhook deliveries share.
What each caller sends through them is tested with the caller (tests/connections/test_provider_client.py,
tests/webhooks/test_delivery_http.py)."""

import os
import time

import pytest
import urllib3

from apps.core import http
from tests.provider_server import running_fake_provider


@pytest.fixture
def keep_alive_server():
    with running_fake_provider(keep_alive=True) as recorder:
        yield recorder


def get_status(url: str) -> int:
    return http.pool_for(url).request("GET", url, timeout=5).status


def test_a_connection_is_kept_for_the_next_request(keep_alive_server):
    keep_alive_server.on("GET", "/ping", body={})
    url = f"{keep_alive_server.url}/ping"
    assert get_status(url) == get_status(url) == 200
    first, second = keep_alive_server.calls("/ping")
    assert first.client == second.client


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # the server's threads
def test_a_forked_process_opens_its_own_connections(keep_alive_server):
    """A child that wrote on the parent's kept socket would interleave its request with the parent's."""
    keep_alive_server.on("GET", "/ping", body={})
    url = f"{keep_alive_server.url}/ping"
    assert get_status(url) == 200
    answers, child_writes = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(child_writes, str(get_status(url)).encode())
        finally:
            os._exit(0)
    os.close(child_writes)
    os.waitpid(pid, 0)
    assert os.read(answers, 16) == b"200"
    os.close(answers)
    in_parent, in_child = keep_alive_server.calls("/ping")
    assert in_child.client != in_parent.client


def dripping_call_seconds(url: str) -> float:
    """How long a call to a route that answers a byte at a time lasts under a 0.5 s deadline (checked)."""
    started = time.monotonic()
    with http.total_deadline(0.5) as deadline:
        try:
            cut_short = http.pool_for(url).request(
                "GET", url, timeout=urllib3.Timeout(connect=1, read=1), retries=False
            )
        except urllib3.exceptions.HTTPError:
            cut_short = None
    assert deadline.passed, "a cut can leave a status line that still parses: callers must ask the deadline"
    assert cut_short is None or cut_short.data == b""
    return time.monotonic() - started


def test_a_call_that_keeps_sending_inside_the_timeout_ends_at_its_total_deadline(keep_alive_server):
    """Each byte comes well inside the read timeout, so only the deadline for the whole call ends it."""
    keep_alive_server.on("GET", "/drip", body={"padding": "x" * 200}, drip=0.05)  # ~15 s for the whole answer
    assert dripping_call_seconds(f"{keep_alive_server.url}/drip") < 2


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # the server's threads
def test_a_forked_process_cuts_its_own_calls_off(keep_alive_server):
    """A Celery pool process is forked from a parent whose deadline thread did not come along with it."""
    keep_alive_server.on("GET", "/drip", body={"padding": "x" * 200}, drip=0.05)
    url = f"{keep_alive_server.url}/drip"
    assert dripping_call_seconds(url) < 2  # the parent's deadline thread is running
    answers, child_writes = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(child_writes, f"{dripping_call_seconds(url):.2f}".encode())
        finally:
            os._exit(0)
    os.close(child_writes)
    os.waitpid(pid, 0)
    in_child = os.read(answers, 16)
    os.close(answers)
    assert in_child and float(in_child) < 2, "the child's call was not cut off"


def test_a_call_done_before_its_deadline_leaves_its_connection_to_the_next_one(keep_alive_server):
    keep_alive_server.on("GET", "/ping", body={})
    url = f"{keep_alive_server.url}/ping"
    with http.total_deadline(0.2) as deadline:
        assert get_status(url) == 200
    time.sleep(0.4)  # the deadline comes and goes while the connection waits in the pool
    assert get_status(url) == 200
    assert not deadline.passed
    first, second = keep_alive_server.calls("/ping")
    assert first.client == second.client, "the kept connection was shut down by a deadline that no longer applied"
