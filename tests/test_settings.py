"""Production settings refuse to start without their secrets, with one readable line and no traceback."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "SECRET_KEY": "x" * 50,
    "PATCHBAY_VAULT_KEYS": "k1:" + base64.b64encode(b"k" * 32).decode(),
    "ALLOWED_HOSTS": "patchbay.example.com",
    "PATCHBAY_BASE_URL": "https://patchbay.example.com",
}
SETTINGS_ENV = {
    "SECRET_KEY",
    "PATCHBAY_VAULT_KEYS",
    "ALLOWED_HOSTS",
    "PATCHBAY_BASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "DEBUG",
    "CSRF_TRUSTED_ORIGINS",
}


def import_production(tmp_path, *, full: bool = False, **overrides) -> subprocess.CompletedProcess:
    """Import the production settings in a fresh interpreter (`full` also loads every app)."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    env.update({k: v for k, v in {**GOOD, **overrides}.items() if v is not None})
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    env["PATCHBAY_VAR_DIR"] = str(tmp_path)
    code = "import config.settings.production as s; print('DEBUG', s.DEBUG)"
    if full:
        code = "import django; django.setup(); from django.conf import settings; print('DEBUG', settings.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_production_starts_with_every_setting(tmp_path):
    result = import_production(tmp_path, full=True)
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"PATCHBAY_VAULT_KEYS": None}, "PATCHBAY_VAULT_KEYS"),
        ({"PATCHBAY_VAULT_KEYS": "k1:not-base64!"}, "PATCHBAY_VAULT_KEYS"),
        ({"PATCHBAY_VAULT_KEYS": "k1:" + base64.b64encode(b"short").decode()}, "PATCHBAY_VAULT_KEYS"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"PATCHBAY_BASE_URL": None}, "PATCHBAY_BASE_URL"),
        ({"PATCHBAY_BASE_URL": "http://patchbay.example.com"}, "PATCHBAY_BASE_URL"),
    ],
)
def test_production_refuses_to_start_with_one_clear_line(tmp_path, overrides, names):
    result = import_production(tmp_path, **overrides)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Patchbay refuses to start: ")
    assert names in lines[0]
    assert "Traceback" not in result.stderr
    for secret in (GOOD["SECRET_KEY"], GOOD["PATCHBAY_VAULT_KEYS"].split(":", 1)[1]):
        assert secret not in result.stderr + result.stdout


def test_production_turns_on_https_protections(tmp_path):
    env_code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.PATCHBAY_REQUIRE_STAFF_MFA, "
        "s.SECURE_HSTS_SECONDS > 0)"
    )
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    env.update(GOOD, DJANGO_SETTINGS_MODULE="config.settings.production", PATCHBAY_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", env_code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "True", "True"]


def test_bad_boolean_env_is_a_clear_error(tmp_path):
    result = import_production(tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr
