"""The HTTP rules every provider request follows (provider_client): what a failure says about whether the
provider saw the request, Retry-After, and which requests follow redirects."""

import time
from urllib.parse import urlsplit

import pytest

from apps.connections.exceptions import MalformedTokenResponse, ProviderUnavailable
from apps.connections.provider_client import provider_call_seconds, refresh_token, verify
from tests.connections.conftest import make_provider
from tests.factories import ConnectionFactory, ConnectorConfigFactory
from tests.provider_server import closed_port_url, running_fake_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def refresh(application, customer):
    """Refresh a connection of a provider whose token endpoint is `base_url`/token."""

    def send(base_url: str) -> dict:
        provider = make_provider("http-rules", base_url)
        config = ConnectorConfigFactory(application=application, provider=provider)
        connection = ConnectionFactory(application=application, customer=customer, provider=provider)
        return refresh_token(connection=connection, config=config, refresh_token_value="rt-0")

    return send


def test_a_refused_connection_is_known_not_to_have_reached_the_provider(refresh):
    with pytest.raises(ProviderUnavailable) as refused:
        refresh(closed_port_url())
    assert refused.value.outcome_unknown is False
    assert "NewConnectionError" in refused.value.internal_detail


def test_an_answer_that_never_comes_leaves_the_outcome_unknown(refresh, fake_provider, settings):
    settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS = 0.3
    fake_provider.on("POST", "/token", body={"access_token": "late"}, delay=1.0)
    with pytest.raises(ProviderUnavailable) as timed_out:
        refresh(fake_provider.url)
    assert timed_out.value.outcome_unknown is True
    assert timed_out.value.internal_detail == "token endpoint timed out"
    assert len(fake_provider.calls("/token")) == 1  # sent once: no retry behind the caller's back


def test_a_token_endpoint_that_answers_a_byte_at_a_time_is_cut_off_at_the_calls_deadline(
    refresh, fake_provider, settings
):
    """Each byte comes inside the timeout, so only a deadline for the whole call ends it: a refresh that
    outlived its lease would let a second refresh of the same connection start beside it."""
    settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS = 0.3
    fake_provider.on("POST", "/token", body={"access_token": "a" * 200}, drip=0.05)  # ~15 s for the answer
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as cut_off:
        refresh(fake_provider.url)
    assert time.monotonic() - started < provider_call_seconds() + 1.5
    assert cut_off.value.outcome_unknown is True
    assert cut_off.value.internal_detail == "token endpoint timed out"
    assert len(fake_provider.calls("/token")) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_token_endpoint_passes_its_retry_after_on(refresh, fake_provider, status):
    fake_provider.on("POST", "/token", status=status, headers={"Retry-After": "7"})
    with pytest.raises(ProviderUnavailable) as busy:
        refresh(fake_provider.url)
    assert busy.value.retry_after == 7 and busy.value.outcome_unknown is False


def test_a_token_request_is_not_redirected(refresh, fake_provider):
    """The grant and the client secret stay with the token endpoint the catalog names."""
    fake_provider.on("POST", "/token", status=307, headers={"Location": f"{fake_provider.url}/elsewhere"})
    fake_provider.on("POST", "/elsewhere", body={"access_token": "at-1", "expires_in": 3600})
    with pytest.raises(MalformedTokenResponse):
        refresh(fake_provider.url)
    assert fake_provider.calls("/elsewhere") == []


def test_a_verification_follows_a_redirect_without_its_authorization_across_hosts(db, fake_provider):
    with running_fake_provider() as other_host:
        fake_provider.on("GET", "/me", status=302, headers={"Location": f"{other_host.url}/me"})
        other_host.on("GET", "/me", body={"id": "u-1"})
        provider = make_provider("http-rules", fake_provider.url)
        verification = verify(provider=provider, settings={}, credentials={"access_token": "at-1"})
    assert verification.ok and verification.status_code == 200
    assert fake_provider.calls("/me")[0].headers["Authorization"] == "Bearer at-1"
    assert "Authorization" not in other_host.calls("/me")[0].headers


def test_provider_requests_go_through_the_proxy_the_environment_names(refresh, fake_provider, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxy.on("POST", "/token", body={"access_token": "at-proxied", "expires_in": 3600})
    assert refresh(fake_provider.url)["access_token"] == "at-proxied"
    assert fake_provider.calls("/token") == []
    assert proxy.calls("/token")[0].headers["Host"] == urlsplit(fake_provider.url).netloc


def test_a_host_in_no_proxy_is_reached_directly(refresh, fake_provider, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    fake_provider.on("POST", "/token", body={"access_token": "at-direct", "expires_in": 3600})
    assert refresh(fake_provider.url)["access_token"] == "at-direct"
    assert proxy.calls("/token") == []
