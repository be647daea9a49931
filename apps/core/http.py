"""Patchbay's one HTTP stack for calls out (providers, webhook receivers): urllib3 directly, one set of
connection pools per process, forgotten in a forked child.

urllib3's timeouts hold for each connect and each read, so a peer that sends a byte just inside the timeout,
again and again, could hold a call as long as it likes; `total_deadline` ends a whole call at a deadline.

Every pool verifies TLS against certifi's CA bundle (or the one REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE names,
as `requests` honoured them) and never retries: a token request or a webhook must
not be sent twice behind the caller's back, so each caller passes its own redirect rules and timeouts.
A keep-alive token POST costs ~0.21 ms of CPU here against ~0.46 ms through a `requests` session, which a
refresh sweep pays ten thousand times.
"""

import base64
import contextlib
import functools
import ipaddress
import math
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# Keep-alive connections kept per host: as many as a refresh batch has requests in flight, so a sweep
# reuses the connections the previous batch opened (more are opened when needed, then dropped).
KEPT_CONNECTIONS_PER_HOST = 8
HOSTS_KEPT = 64


@functools.cache
def _ca_bundle() -> str:
    """The CA certificates TLS is verified against, read once per process: a deployment whose providers or
    webhook receivers use a private CA names a bundle holding it in REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE),
    as it did when these calls went through `requests`; certifi's bundle otherwise."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()


class Deadline:
    """The end of one call (time.monotonic()): `passed` once it came while the call ran, which then ended
    on a shut socket. `connection`: the one the call is on now (a redirect or a new connection moves it)."""

    __slots__ = ("at", "connection", "passed")

    def __init__(self, at: float):
        self.at = at
        self.passed = False
        self.connection: HTTPConnection | None = None


def _shut(connection: HTTPConnection) -> None:
    """End every read or write blocked on the connection's socket; urllib3 then drops the connection."""
    if connection.sock is not None:
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One thread per process that cuts calls off at their deadlines. It keeps only the calls running (a
    call costs a set insert and a removal, not a thread) and sleeps until the earliest of their deadlines,
    so calls that end in time rarely wake it."""

    def __init__(self) -> None:
        self._running: set[Deadline] = set()
        self._changed = threading.Condition()
        self._wakes_at = math.inf
        self._thread: threading.Thread | None = None

    def start(self, deadline: Deadline) -> None:
        with self._changed:
            self._running.add(deadline)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            if deadline.at < self._wakes_at:
                self._wakes_at = deadline.at
                self._changed.notify()

    def watch(self, deadline: Deadline, connection: HTTPConnection) -> None:
        with self._changed:
            deadline.connection = connection
            if deadline.passed:
                _shut(connection)

    def finish(self, deadline: Deadline) -> None:
        with self._changed:
            self._running.discard(deadline)
            deadline.connection = None

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for deadline in [deadline for deadline in self._running if deadline.at <= now]:
                    self._running.discard(deadline)
                    deadline.passed = True
                    if deadline.connection is not None:
                        _shut(deadline.connection)
                self._wakes_at = min((deadline.at for deadline in self._running), default=math.inf)
                self._changed.wait(None if self._wakes_at == math.inf else self._wakes_at - now)


_current = threading.local()


@functools.cache
def _watchdog() -> _Watchdog:
    return _Watchdog()


@contextlib.contextmanager
def total_deadline(seconds: float) -> Iterator[Deadline]:
    """Calls made in this block on this thread end `seconds` from now at the latest: the socket they are on
    is shut down, so a blocked connect, send or read fails at once (urllib3 raises), or an answer ends
    early. `passed` says whether that happened: callers check it, even after an answer, since a status line
    cut short can still parse."""
    deadline = Deadline(time.monotonic() + seconds)
    watchdog = _watchdog()
    outer = getattr(_current, "deadline", None)
    _current.deadline = deadline
    watchdog.start(deadline)
    try:
        yield deadline
    finally:
        watchdog.finish(deadline)
        _current.deadline = outer


class _WatchedHTTPConnection(HTTPConnection):
    """A connection that puts itself under the calling thread's total_deadline whenever it is used."""

    def connect(self) -> None:
        _watch(self)
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    """The same over TLS: the handshake is watched too (the socket exists before it starts)."""


def _watch(connection: HTTPConnection) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        _watchdog().watch(deadline, connection)


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


@functools.cache
def _pool() -> urllib3.PoolManager:
    manager = urllib3.PoolManager(
        num_pools=HOSTS_KEPT,
        maxsize=KEPT_CONNECTIONS_PER_HOST,
        cert_reqs="CERT_REQUIRED",
        ca_certs=_ca_bundle(),
        retries=False,
    )
    manager.pool_classes_by_scheme = _WATCHED_POOLS
    return manager


@functools.cache
def _proxies() -> dict[str, str]:
    """The proxies named by the standard environment variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, either
    case), read once per process: deployments whose egress goes through a proxy name it there."""
    return urllib.request.getproxies_environment()


@functools.cache
def _proxy_pool(proxy_url: str) -> urllib3.ProxyManager:
    """Connection pools through one proxy (HTTPS tunnelled with CONNECT), with `_pool`'s rules; credentials
    in the proxy URL (`http://user:password@proxy:3128`) authenticate to the proxy."""
    authorization = _basic_credentials(proxy_url)
    manager = urllib3.ProxyManager(
        proxy_url,
        proxy_headers={"Proxy-Authorization": authorization} if authorization else None,
        num_pools=HOSTS_KEPT,
        maxsize=KEPT_CONNECTIONS_PER_HOST,
        cert_reqs="CERT_REQUIRED",
        ca_certs=_ca_bundle(),
        retries=False,
    )
    manager.pool_classes_by_scheme = _WATCHED_POOLS
    return manager


def _basic_credentials(url: str) -> str | None:
    """`Basic …` for the `user:password@` a URL carries (percent-decoded), None when it carries none."""
    parts = urlsplit(url)
    if parts.username is None:
        return None
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(credentials.encode("latin-1")).decode()


def without_credentials(url: str) -> tuple[str, dict[str, str]]:
    """`url` without the `user:password@` it may carry, and the Authorization header those make, so
    credentials never travel in a request line (a proxy sees the whole URL)."""
    authorization = _basic_credentials(url)
    if authorization is None:
        return url, {}
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl(), {"Authorization": authorization}


def pool_for(url: str) -> urllib3.PoolManager:
    """The pools to send a request for `url` through: the proxy the environment names for its scheme,
    unless NO_PROXY covers its host; directly otherwise."""
    proxies = _proxies()
    if not proxies:
        return _pool()
    parts = urlsplit(url)
    proxy_url = proxies.get(parts.scheme)
    if proxy_url and not _bypasses_proxy(parts.netloc, parts.hostname, proxies.get("no", "")):
        return _proxy_pool(proxy_url)
    return _pool()


def _bypasses_proxy(netloc: str, host: str | None, no_proxy: str) -> bool:
    """NO_PROXY as `requests` read it: host names and domains (`*`, `example.com`, `.example.com`, with or
    without a port), and networks (`10.0.0.0/8`, `fd00::/8`) for a host given as an IP address."""
    if urllib.request.proxy_bypass(netloc, {"no": no_proxy}):
        return True
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    for entry in no_proxy.split(","):
        with contextlib.suppress(ValueError):
            if "/" in entry and address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
    return False


def _forget_pools() -> None:
    _pool.cache_clear()
    _proxy_pool.cache_clear()


os.register_at_fork(after_in_child=_forget_pools)  # a forked process must not share the parent's sockets
# Nor its watchdog: that thread did not come along, and its lock may have been held at the fork.
os.register_at_fork(after_in_child=_watchdog.cache_clear)
