"""Create (or find) everything a first look at Patchbay needs. Idempotent: a second run changes nothing."""

import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.connect.demo_host import demo_host_origin
from apps.connect.services import customer_portal_link
from apps.sandbox.services import sandbox_connector_config_ensure
from apps.tenants.models import ApiKey, Application, Customer
from apps.tenants.services import (
    api_key_create,
    application_create,
    customer_get_or_create,
    normalize_origin,
    webhook_secret_new,
)
from apps.vault.crypto import DecryptionError

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Co"
DEMO_CUSTOMER = "demo-customer"
DEMO_USERNAME = "admin"
DEMO_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]
PORTAL_LINK_TTL = 7 * 24 * 3600
ACTOR = "system:bootstrap_demo"


def widget_demo_origin() -> str:
    """Where `make run` serves the widget demo page: the other loopback name, on Patchbay's port + 1."""
    base_port = urlsplit(settings.PATCHBAY_BASE_URL).port or 8000
    return demo_host_origin(base_url=settings.PATCHBAY_BASE_URL, port=base_port + 1)


def credentials_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-credentials.json"


def _write_private(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def demo_password() -> tuple[str, str]:
    """(password, where it came from): PATCHBAY_DEMO_PASSWORD, else generated once into var/ (0600)."""
    from_env = os.environ.get("PATCHBAY_DEMO_PASSWORD", "")
    if from_env:
        return from_env, "PATCHBAY_DEMO_PASSWORD"
    path = credentials_path()
    if path.exists():
        stored = json.loads(path.read_text())
        if stored.get("password"):
            return stored["password"], str(path)
    password = secrets.token_urlsafe(12)
    _write_private(path, {"username": DEMO_USERNAME, "password": password})
    return password, str(path)


class Command(BaseCommand):
    help = (
        "Create the demo application 'Demo Co', a demo customer, the staff user 'admin', an API key (shown "
        "once) and the sandbox connector, then print how to log in. Safe to run again: it keeps all data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--new-api-key", action="store_true", help="Create (and show once) another API key.")
        parser.add_argument(
            "--with-setup",
            action="store_true",
            help="First migrate, load the catalog and collect static files (what `make run` does), in one process.",
        )
        parser.add_argument(
            "--force", action="store_true", help="Run even with production settings (creates a superuser)."
        )

    def handle(self, *args, new_api_key: bool, with_setup: bool, force: bool, **options):
        settings_module = settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE", "")
        if settings_module.endswith(".production") and not force:
            raise CommandError("bootstrap_demo creates a demo superuser; refusing with production settings.")
        if with_setup:
            call_command("migrate", interactive=False, verbosity=0 if options["verbosity"] < 2 else 1)
            call_command("load_catalog", stdout=self.stdout)
            call_command("collectstatic", interactive=False, verbosity=0)
        password, password_source = demo_password()
        with transaction.atomic():
            application = self._application()
            customer = customer_get_or_create(application=application, external_id=DEMO_CUSTOMER, name="Demo Customer")
            self._staff_user(password)
            raw_key, existing_key = None, None
            active_keys = ApiKey.objects.filter(application=application, revoked_at__isnull=True)
            if new_api_key or not active_keys.exists():
                _, raw_key = api_key_create(application=application, name="Demo key", actor=ACTOR)
            else:
                existing_key = active_keys.order_by("-created_at").first()
        sandbox_note = self._sandbox(application)
        self._report(
            application=application,
            customer=customer,
            password=password,
            password_source=password_source,
            raw_key=raw_key,
            existing_key=existing_key,
            sandbox_note=sandbox_note,
        )

    def _application(self) -> Application:
        origins = [*DEMO_ORIGINS, widget_demo_origin()]
        try:
            base_origin = normalize_origin(settings.PATCHBAY_BASE_URL)
        except Exception:  # noqa: BLE001 - a base URL with a path simply adds no origin
            base_origin = ""
        if base_origin and base_origin not in origins:
            origins.append(base_origin)
        application = Application.objects.filter(slug=DEMO_SLUG).first()
        if application is None:
            application = application_create(name=DEMO_NAME, slug=DEMO_SLUG, allowed_origins=origins)
        missing = [o for o in origins if o not in application.allowed_origins]
        if missing:
            application.allowed_origins = [*application.allowed_origins, *missing]
            application.save(update_fields=["allowed_origins", "modified_at"])
        self._ensure_webhook_secret(application)
        return application

    def _ensure_webhook_secret(self, application: Application) -> None:
        """The demo's webhook signing secret must be {"secret": "whsec_…"}; make it so if it is not."""
        fresh = Application.objects.get(pk=application.pk)
        try:
            current = fresh.webhook_secret
        except DecryptionError:
            current = None
            self.stderr.write("Demo webhook secret could not be decrypted (vault keys changed?); making a new one.")
        if isinstance(current, dict) and str(current.get("secret", "")).startswith("whsec_"):
            return
        fresh.webhook_secret = {"secret": webhook_secret_new()}
        fresh.save(update_fields=["webhook_secret", "modified_at"])

    def _staff_user(self, password: str) -> None:
        User = get_user_model()
        user = User.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            User.objects.create_superuser(DEMO_USERNAME, "admin@patchbay.localhost", password)
            return
        changed = []
        if not (user.is_staff and user.is_superuser and user.is_active):
            user.is_staff = user.is_superuser = user.is_active = True
            changed += ["is_staff", "is_superuser", "is_active"]
        if not user.check_password(password):
            user.set_password(password)
            changed.append("password")
        if changed:
            user.save(update_fields=changed)

    def _sandbox(self, application: Application) -> str:
        if not settings.PATCHBAY_SANDBOX_ENABLED:
            return "Sandbox provider is off (PATCHBAY_SANDBOX_ENABLED=false)."
        try:
            config = sandbox_connector_config_ensure(application=application, actor=ACTOR)
        except Exception as exc:  # noqa: BLE001 - the demo still works without the sandbox; say why
            return f"Sandbox connector could not be set up: {exc}"
        return f"Sandbox connector ready ({config.provider.display_name}, works offline)."

    def _report(
        self,
        *,
        application: Application,
        customer: Customer,
        password: str,
        password_source: str,
        raw_key: str | None,
        existing_key: ApiKey | None,
        sandbox_note: str,
    ) -> None:
        base = settings.PATCHBAY_BASE_URL
        out, style = self.stdout, self.style
        out.write(style.SUCCESS("\nPatchbay demo is ready.\n"))
        out.write(f"  URL:             {base}/")
        out.write(f"  Admin:           {base}/admin/")
        out.write(f"  Admin login:     {DEMO_USERNAME}")
        if password_source == "PATCHBAY_DEMO_PASSWORD":
            out.write("  Admin password:  (the value of PATCHBAY_DEMO_PASSWORD)")
        else:
            out.write(f"  Admin password:  {password}   (kept in {password_source})")
        out.write(f"  Application:     {application.name} ({application.pk})")
        if raw_key:
            out.write(style.WARNING(f"  API key:         {raw_key}"))
            out.write("                   Shown once — copy it now; Patchbay stores only its hash.")
        elif existing_key is not None:
            out.write(
                f"  API key:         one exists ({existing_key.prefix}…); keys are shown only when created. "
                "Make another with `manage.py bootstrap_demo --new-api-key` or in the admin (API keys → Add)."
            )
        out.write(f"  API docs:        {base}/api/docs")
        out.write(
            f"  Widget demo:     {widget_demo_origin()}/   (another site embedding the widget; make run serves it)"
        )
        out.write(f"  Customer portal: {customer_portal_link(customer=customer, ttl=PORTAL_LINK_TTL)}")
        out.write(f"                   Open it as '{customer}' and connect the Patchbay Sandbox (valid 7 days).")
        out.write(f"  {sandbox_note}\n")
