"""Patchbay's one HTTP stack for calls out (providers, webhook receivers): urllib3 directly, one set of
connection pools per process, forgotten in a forked child.

Every pool verifies TLS against certifi's CA bundle (or the one REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE names,
as `requests` honoured them) and never retries: a token request or a webhook must
not be sent twice behind the caller's back, so each caller passes its own redirect rules and timeouts.
A keep-alive token POST costs ~0.21 ms of CPU here against ~0.46 ms through a `requests` session, which a
refresh sweep pays ten thousand times.
"""

import base64
import functools
import os
import urllib.request
from urllib.parse import unquote, urlsplit

import certifi
import urllib3

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


@functools.cache
def _pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(
        num_pools=HOSTS_KEPT,
        maxsize=KEPT_CONNECTIONS_PER_HOST,
        cert_reqs="CERT_REQUIRED",
        ca_certs=_ca_bundle(),
        retries=False,
    )


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
    return urllib3.ProxyManager(
        proxy_url,
        proxy_headers={"Proxy-Authorization": authorization} if authorization else None,
        num_pools=HOSTS_KEPT,
        maxsize=KEPT_CONNECTIONS_PER_HOST,
        cert_reqs="CERT_REQUIRED",
        ca_certs=_ca_bundle(),
        retries=False,
    )


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
    unless NO_PROXY lists its host; directly otherwise."""
    proxies = _proxies()
    if not proxies:
        return _pool()
    parts = urlsplit(url)
    proxy_url = proxies.get(parts.scheme)
    if proxy_url and not urllib.request.proxy_bypass(parts.netloc, proxies):
        return _proxy_pool(proxy_url)
    return _pool()


def _forget_pools() -> None:
    _pool.cache_clear()
    _proxy_pool.cache_clear()


os.register_at_fork(after_in_child=_forget_pools)  # a forked process must not share the parent's sockets
