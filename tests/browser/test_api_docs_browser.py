"""The API docs work offline: every asset comes from Patchbay itself, never from a CDN."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _visit(page, url: str) -> list[str]:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url)
    return requested


def _assert_only_patchbay(requested: list[str], live_url: str) -> None:
    outside = [u for u in requested if not u.startswith(("data:", "blob:")) and _origin(u) != _origin(live_url)]
    assert outside == [], f"requests left Patchbay: {outside}"


def test_swagger_docs_render_from_patchbays_own_assets(page, live_server):
    requested = _visit(page, f"{live_server.url}/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Patchbay API")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/connections/{connection_id}").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert f"{live_server.url}/api/openapi.json" in requested
    assert any("/static/ninja/swagger-ui-bundle" in u for u in requested)
    _assert_only_patchbay(requested, live_server.url)
