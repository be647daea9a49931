"""Browser tests drive Debian's /usr/bin/chromium through Playwright (Playwright's own download cannot work here)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.connect.conftest import live, sandbox_app, sandbox_customer  # noqa: F401
from tests.connections.conftest import fake_provider  # noqa: F401 - the widget test's provider

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def _ensure_chromium() -> str | None:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, env=env, check=False)
        if not Path(CHROMIUM).exists():
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, check=False)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, env=env, check=False)
    return CHROMIUM if Path(CHROMIUM).exists() else None


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = _ensure_chromium()
    if path is None:
        reason = (
            "!!! BROWSER TESTS NOT RUN: /usr/bin/chromium is missing and could not be installed "
            "(run `apt-get install -y chromium` as root) !!!"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def playwright_driver(chromium_executable):
    from playwright.sync_api import expect, sync_playwright

    # A loaded CI machine can take a few seconds per page; don't fail on Playwright's 5 s default.
    expect.set_options(timeout=20000)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_driver, chromium_executable):
    browser = playwright_driver.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


# Chromium 156 ignores --test-third-party-cookie-phaseout; these profile preferences are what block them.
BLOCK_THIRD_PARTY_COOKIES = {"profile": {"cookie_controls_mode": 1, "block_third_party_cookies": True}}


@pytest.fixture
def cookie_blocking_context(playwright_driver, chromium_executable, tmp_path):
    """A fresh Chromium profile that blocks third-party cookies by its preferences, at a 360 px phone width."""
    profile = tmp_path / "chromium-profile"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(json.dumps(BLOCK_THIRD_PARTY_COOKIES))
    context = playwright_driver.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium_executable,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 360, "height": 740},
    )
    context.set_default_timeout(20000)
    yield context
    context.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20000)
    yield page
    context.close()


def screenshot_directory(tmp_path) -> Path:
    directory = Path(os.environ.get("PATCHBAY_SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def screenshot(page, tmp_path):
    """Save a full-page PNG (to $PATCHBAY_SCREENSHOT_DIR when set, else the test's tmp dir)."""
    directory = screenshot_directory(tmp_path)

    def take(name: str, of=None) -> Path:
        path = directory / f"{name}.png"
        (of or page).screenshot(path=str(path), full_page=True)
        return path

    return take
