"""Developer machine: embedded SQLite + filesystem broker unless DATABASE_URL / CELERY_BROKER_URL are set."""

import base64
import json
import os
import secrets

from config.settings.base import *  # noqa: F403
from config.settings.base import VAR_DIR
from config.settings.env import env_bool, env_str


def _dev_secrets() -> dict:
    """Dev keys are generated once into var/ so data encrypted yesterday still decrypts today."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "dev-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    generated = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PATCHBAY_VAULT_KEYS": "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(generated, handle)
    return generated


_secrets = _dev_secrets()
DEBUG = env_bool("DEBUG", True)
PATCHBAY_RAISE_ON_NETWORK_IN_TRANSACTION = env_bool("PATCHBAY_RAISE_ON_NETWORK_IN_TRANSACTION", DEBUG)
SECRET_KEY = env_str("SECRET_KEY") or _secrets["SECRET_KEY"]
PATCHBAY_VAULT_KEYS = env_str("PATCHBAY_VAULT_KEYS") or _secrets["PATCHBAY_VAULT_KEYS"]
PATCHBAY_SANDBOX_ENABLED = env_bool("PATCHBAY_SANDBOX_ENABLED", True)
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
