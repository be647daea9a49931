"""Production: every secret comes from the environment; refuse to start without them."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import ALLOWED_HOSTS, PATCHBAY_BASE_URL, PATCHBAY_VAULT_KEYS, SECRET_KEY
from config.settings.env import env_bool, env_int


class MissingProductionSetting(SystemExit):
    """Raised at import so the process exits with one readable line instead of a traceback."""

    def __init__(self, message: str):
        super().__init__(f"Patchbay refuses to start: {message}")


def _require_production_settings() -> None:
    if not SECRET_KEY or len(SECRET_KEY) < 32:
        raise MissingProductionSetting("SECRET_KEY must be set to a random string of at least 32 characters.")
    if not PATCHBAY_VAULT_KEYS:
        raise MissingProductionSetting(
            "PATCHBAY_VAULT_KEYS must be set (comma-separated key_id:base64-32-byte-key, newest first)."
        )
    from apps.vault.keyring import KeyringError, parse_keyring

    try:
        parse_keyring(PATCHBAY_VAULT_KEYS)
    except KeyringError as exc:
        raise MissingProductionSetting(f"PATCHBAY_VAULT_KEYS is invalid: {exc}") from None
    if not _env_has("ALLOWED_HOSTS") or not ALLOWED_HOSTS:
        raise MissingProductionSetting("ALLOWED_HOSTS must list the host names Patchbay is served on.")
    if not PATCHBAY_BASE_URL.startswith("https://") or not _env_has("PATCHBAY_BASE_URL"):
        raise MissingProductionSetting("PATCHBAY_BASE_URL must be the public https:// URL of this deployment.")


def _env_has(name: str) -> bool:
    return bool(os.environ.get(name, "").strip())


_require_production_settings()

DEBUG = False
PATCHBAY_REQUIRE_STAFF_MFA = env_bool("PATCHBAY_REQUIRE_STAFF_MFA", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# The connect widget runs in an iframe on the application's own site: its session and CSRF cookies must
# be sent cross-site, which browsers allow only for Secure cookies with SameSite=None. CSRF tokens and
# the per-request frame-ancestors policy still protect every form.
SESSION_COOKIE_SAMESITE = "None"
CSRF_COOKIE_SAMESITE = "None"
