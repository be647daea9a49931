"""The process's outbound HTTP pools (apps.core.http), which provider calls and webhook deliveries share.
What each caller sends through them is tested with the caller (tests/connections/test_provider_client.py,
tests/webhooks/test_delivery_http.py)."""

import os

import pytest

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
