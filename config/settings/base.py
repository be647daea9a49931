"""Settings shared by every environment. Environment-specific files import * from here."""

import logging
from pathlib import Path

import dj_database_url

from config.settings.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("PATCHBAY_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
PATCHBAY_BASE_URL = (env_str("PATCHBAY_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PATCHBAY_BASE_URL])

INSTALLED_APPS = [
    "apps.console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    # Serves the Swagger UI and Redoc assets it ships (pinned in pyproject) from our own static files:
    # without it in INSTALLED_APPS, ninja's docs pages load them from a CDN.
    "ninja",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "oauth2_provider",
    "apps.core",
    "apps.vault",
    "apps.tenants",
    "apps.audit",
    "apps.catalog",
    "apps.connections",
    "apps.connect",
    "apps.api",
    "apps.webhooks",
    "apps.sandbox",
    "apps.accounts",
    "apps.console",
    "apps.ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.audit.middleware.AuditRequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.accounts.middleware.StaffMfaRequiredMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

SQLITE_OPTIONS = {
    # Web and worker share one SQLite file: WAL lets readers run beside the writer, IMMEDIATE takes
    # the write lock up front so transactions never fail halfway with "database is locked".
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
}


def database_from_env(default_sqlite_path: Path) -> dj_database_url.DBConfig:
    url = env_str("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
        if config["ENGINE"] == "django.db.backends.sqlite3":
            config["OPTIONS"] = SQLITE_OPTIONS
        elif env_bool("DATABASE_PREPARED_STATEMENTS", True):
            # Parameters bound by the server, and a statement a connection has run five times is prepared:
            # PostgreSQL parses it once and soon reuses a generic plan instead of planning every run (the
            # OAuth callback's attempt read planned 5 to 10 times longer than it executed). Poolers in
            # transaction mode (PgBouncer < 1.21) lose prepared statements between transactions: turn this
            # off behind one.
            config["OPTIONS"] = {**config.get("OPTIONS", {}), "server_side_binding": True, "prepare_threshold": 5}
        return config
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(default_sqlite_path),
        "OPTIONS": SQLITE_OPTIONS,
    }


DATABASES = {"default": database_from_env(VAR_DIR / "patchbay.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL") or (
    env_str("CELERY_BROKER_URL") if (env_str("CELERY_BROKER_URL") or "").startswith("redis") else None
)
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Staff login (django-allauth, account + MFA) ---
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/admin/"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "apps.accounts.adapter.StaffAccountAdapter"
MFA_ADAPTER = "apps.accounts.mfa.VaultMFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Patchbay"
PATCHBAY_REQUIRE_STAFF_MFA = env_bool("PATCHBAY_REQUIRE_STAFF_MFA", False)

# --- Vault ---
# Comma-separated "key_id:base64(32 bytes)" pairs, newest first. The first key encrypts; all decrypt.
PATCHBAY_VAULT_KEYS = env_str("PATCHBAY_VAULT_KEYS", "")

# --- Catalog ---
PATCHBAY_CATALOG_DIRS = [BASE_DIR / "apps" / "catalog" / "providers"] + [
    Path(p) for p in env_list("PATCHBAY_CATALOG_DIRS")
]

# --- Sandbox provider ---
PATCHBAY_SANDBOX_ENABLED = env_bool("PATCHBAY_SANDBOX_ENABLED", False)
OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("PATCHBAY_SANDBOX_TOKEN_SECONDS", 300),
    "ROTATE_REFRESH_TOKEN": True,
    # How long the sandbox still accepts a refresh token it has rotated (0 = never), like Auth0 or Xero.
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": env_int("PATCHBAY_SANDBOX_REFRESH_GRACE_SECONDS", 60),
    "SCOPES": {
        "profile:read": "Read your sandbox profile",
        "records:read": "Read your sandbox records",
        "records:write": "Create and change your sandbox records",
    },
    "DEFAULT_SCOPES": ["profile:read"],
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
}

# --- Outbound HTTP to providers ---
PATCHBAY_PROVIDER_TIMEOUT_SECONDS = env_int("PATCHBAY_PROVIDER_TIMEOUT_SECONDS", 15)
# The longest a request waits for a token refresh another request or worker is making, then 503.
PATCHBAY_REFRESH_WAIT_SECONDS = env_int("PATCHBAY_REFRESH_WAIT_SECONDS", PATCHBAY_PROVIDER_TIMEOUT_SECONDS)
# A failed refresh is retried after this many seconds, doubling per failure up to an hour, with jitter.
PATCHBAY_REFRESH_RETRY_BASE_SECONDS = env_int("PATCHBAY_REFRESH_RETRY_BASE_SECONDS", 30)
# How long a webhook receiver may take to answer; a delivery's claim lasts this plus 30 s.
PATCHBAY_WEBHOOK_TIMEOUT_SECONDS = env_int("PATCHBAY_WEBHOOK_TIMEOUT_SECONDS", 15)
# A provider or webhook call inside atomic() raises when true (tests, development), else logs an error.
PATCHBAY_RAISE_ON_NETWORK_IN_TRANSACTION = env_bool("PATCHBAY_RAISE_ON_NETWORK_IN_TRANSACTION", DEBUG)

# --- API ---
PATCHBAY_API_RATE_LIMIT_PER_MINUTE = env_int("PATCHBAY_API_RATE_LIMIT_PER_MINUTE", 600)

# --- Celery ---
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
CELERY_FILESYSTEM_DIR = VAR_DIR / "broker"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False
# /healthz says degraded when no worker has taken a task for this long (beat sends one every minute).
PATCHBAY_WORKER_STALE_SECONDS = env_int("PATCHBAY_WORKER_STALE_SECONDS", 300)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the worker logs through LOGGING below, secrets scrubbed

# --- Security headers ---
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "config.logging.ScrubbingFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # These libraries log full token responses at DEBUG; never let a token reach a log.
        "requests_oauthlib": {"level": "WARNING"},
        "oauthlib": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "oauth2_provider": {"level": "WARNING"},
    },
}
logging.getLogger("requests_oauthlib").setLevel(logging.WARNING)
logging.getLogger("oauthlib").setLevel(logging.WARNING)
