import sys
import threading
import time
import traceback
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connections

from apps.core import http
from tests.live_server import LiveServer
from tests.migrations import migrate_to_latest
from tests.provider_server import running_fake_provider


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Every test database starts with the real provider catalog loaded, and ends with no session but the
    test process's own on it, so it can be dropped."""
    with django_db_blocker.unblock():
        call_command("load_catalog", verbosity=0)
    yield
    with django_db_blocker.unblock():
        _fail_if_another_session_holds_the_test_database()


@pytest.fixture(scope="session")
def live_server(django_db_setup):
    """pytest-django's live server, on one that hangs up on its clients when it stops (tests/live_server.py).
    It serves the test database, so it needs it first and stops before the database is dropped."""
    server = LiveServer("localhost")
    yield server
    server.stop()


# A session closed just before the suite ended can take a moment to leave pg_stat_activity.
OTHER_SESSIONS_GRACE_SECONDS = 3.0


def _fail_if_another_session_holds_the_test_database() -> None:
    """PostgreSQL will not drop a database someone is connected to: pytest-django would only warn and leave
    it behind. A session still open here is a connection a test left in a thread or process of its own."""
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + OTHER_SESSIONS_GRACE_SECONDS
    while sessions := _other_sessions(connection):
        if time.monotonic() >= deadline:
            listed = "\n".join(f"  {session}" for session in sessions)
            pytest.fail(
                f"{len(sessions)} other session(s) still hold the test database {connection.settings_dict['NAME']} "
                f"(pid, application, client port, state, last query):\n{listed}\n"
                f"Threads alive in the test process, and where each waits:\n{_threads_and_where_they_wait()}",
                pytrace=False,
            )
        time.sleep(0.1)


def _threads_and_where_they_wait() -> str:
    frames = sys._current_frames()
    lines = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or 0)
        stack = traceback.extract_stack(frame)[-3:] if frame else []
        where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack))
        lines.append(f"  {thread.name}: {where}")
    return "\n".join(lines)


def _other_sessions(connection) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, client_port, state, left(query, 200) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchall()


@pytest.fixture(autouse=True)
def _every_json_response_uses_the_one_timestamp_format(monkeypatch):
    """Wraps the Django test client, so every JSON answer any test receives is scanned (tests/wire_timestamps.py)."""
    from django.test.client import Client

    from tests.wire_timestamps import check_response

    send = Client.request

    def request(self, **kwargs):
        response = send(self, **kwargs)
        check_response(response)
        return response

    monkeypatch.setattr(Client, "request", request)


@pytest.fixture
def empty_cache():
    """The cache emptied before and after the test: the API keys a process remembers (and their rate-limit
    counts) from one test would otherwise let the next skip the key lookup it counts, or start over its limit."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def proxy():
    """A local server standing in for an egress proxy: a proxied request reaches it in absolute form, which
    it records under the path and answers itself. The proxy environment is read once per process, so it is
    forgotten before and after the test."""
    with running_fake_provider() as recorder:
        http._proxies.cache_clear()
        yield recorder
        http._proxies.cache_clear()


@pytest.fixture
def back_to_latest():
    """A test that migrates the database backwards leaves it at the latest schema for the tests after it."""
    yield
    migrate_to_latest()
