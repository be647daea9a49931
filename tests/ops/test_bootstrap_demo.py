"""bootstrap_demo: everything a first look needs, created once; a second run keeps it all."""

import json
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.catalog.models import ConnectorConfig
from apps.tenants.models import ApiKey, Application, Customer
from apps.tenants.selectors import api_key_authenticate

pytestmark = pytest.mark.django_db


@pytest.fixture
def var_dir(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("PATCHBAY_DEMO_PASSWORD", raising=False)
    return tmp_path


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("bootstrap_demo", *args, stdout=out)
    return out.getvalue()


def find_key(output: str) -> str:
    line = next(line for line in output.splitlines() if line.strip().startswith("API key:"))
    return line.split("API key:", 1)[1].split()[0]


def test_first_run_creates_everything_and_shows_the_key_once(var_dir):
    output = run()
    application = Application.objects.get(slug="demo")
    assert application.name == "Demo Co"
    assert {"http://127.0.0.1:8000", "http://localhost:8000"} <= set(application.allowed_origins)
    assert Customer.objects.filter(application=application, external_id="demo-customer").exists()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser

    creds_file = var_dir / "demo-credentials.json"
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    password = json.loads(creds_file.read_text())["password"]
    assert admin.check_password(password)
    assert password in output

    raw = find_key(output)
    assert raw.startswith("pb_live_")
    assert api_key_authenticate(raw_key=raw).application == application
    assert "/admin/" in output
    assert ConnectorConfig.objects.filter(application=application, provider__name="patchbay-sandbox").exists()


def test_second_run_keeps_data_and_does_not_show_a_key(var_dir):
    first = run()
    raw = find_key(first)
    application = Application.objects.get(slug="demo")
    password = json.loads((var_dir / "demo-credentials.json").read_text())["password"]

    second = run()
    assert raw not in second
    assert "one exists" in second and "--new-api-key" in second
    assert Application.objects.filter(slug="demo").count() == 1
    assert Application.objects.get(slug="demo").pk == application.pk
    assert ApiKey.objects.filter(application=application).count() == 1
    assert Customer.objects.filter(application=application).count() == 1
    assert get_user_model().objects.filter(username="admin").count() == 1
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert api_key_authenticate(raw_key=raw) is not None


def test_new_api_key_flag_shows_another_key(var_dir):
    first = find_key(run())
    second = find_key(run("--new-api-key"))
    assert first != second
    assert ApiKey.objects.filter(application__slug="demo", revoked_at__isnull=True).count() == 2


def test_password_from_environment(var_dir, monkeypatch):
    monkeypatch.setenv("PATCHBAY_DEMO_PASSWORD", "from-the-env-123")
    output = run()
    assert "from-the-env-123" not in output
    assert get_user_model().objects.get(username="admin").check_password("from-the-env-123")
    assert not (var_dir / "demo-credentials.json").exists()


def test_sandbox_off_skips_the_connector(var_dir, settings):
    settings.PATCHBAY_SANDBOX_ENABLED = False
    output = run()
    assert "Sandbox provider is off" in output
    assert not ConnectorConfig.objects.filter(provider__name="patchbay-sandbox").exists()


def test_refuses_production_settings(var_dir, settings):
    settings.SETTINGS_MODULE = "config.settings.production"
    with pytest.raises(CommandError, match="production"):
        run()


def test_demo_application_has_a_usable_webhook_signing_secret(var_dir):
    run()
    secret = Application.objects.get(slug="demo").webhook_secret
    assert isinstance(secret, dict)
    assert secret["secret"].startswith("whsec_")
    stored_before = Application.objects.filter(slug="demo").values_list("webhook_secret", flat=True).get()
    run()
    assert Application.objects.filter(slug="demo").values_list("webhook_secret", flat=True).get() == stored_before
