"""Django's live server, made to drop the connections its clients keep open when it stops.

Django's test server gives each client connection a thread for as long as the client keeps the connection
alive, and that thread keeps its database connection between requests (CONN_MAX_AGE). Stopping the server
closes only its listening socket: a client that never hangs up — the provider client's keep-alive pool in
the test process, which calls the sandbox provider served by the live server — kept such a thread, and its
PostgreSQL session, until the test process ended, so the test database could not be dropped.
"""

import contextlib
import socket
import threading

from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread
from pytest_django import live_server_helper


class _ServerClosingItsConnections(ThreadedWSGIServer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def close_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().close_request(request)

    def server_close(self):
        """Hang up on every client still connected: each thread reads the end of its connection, closes its
        database connections (ThreadedWSGIServer.close_request) and ends."""
        super().server_close()
        with self._open_lock:
            still_open = list(self._open)
        for request in still_open:
            with contextlib.suppress(OSError):  # the client hung up meanwhile
                request.shutdown(socket.SHUT_RDWR)


class _LiveServerThread(LiveServerThread):
    server_class = _ServerClosingItsConnections


class LiveServer(live_server_helper.LiveServer):
    """pytest-django's LiveServer (the same settings, static files and in-memory SQLite sharing), on the
    server above."""

    def __init__(self, addr: str) -> None:
        super().__init__(addr, start=False)
        built = self.thread
        self.thread = _LiveServerThread(
            built.host, built.static_handler, connections_override=built.connections_override, port=built.port
        )
        self.thread.daemon = True
        self.start()
