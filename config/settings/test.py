"""Test run: fixed keys, fast hashing, sandbox on. DATABASE_URL (Postgres in CI) is honoured."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import VAR_DIR, database_from_env
from config.settings.env import env_bool

SECRET_KEY = "test-secret-key-not-for-production"
PATCHBAY_VAULT_KEYS = "test2:" + "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
DEBUG = False
PATCHBAY_SANDBOX_ENABLED = True
PATCHBAY_RAISE_ON_NETWORK_IN_TRANSACTION = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES = {"default": database_from_env(VAR_DIR / "test.sqlite3")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, like the embedded default (WAL, busy timeout), not shared-cache memory, whose table locks
    # fail concurrent writers instead of making them wait. One per pytest process (removed when the run
    # ends), so two runs in one checkout do not delete each other's database; the processes a test
    # starts are given the file's path in DATABASE_URL.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-run-{os.getpid()}.sqlite3")}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Eager in the test process; a real worker a test starts (tests/processes.py) sends its tasks to the broker.
CELERY_TASK_ALWAYS_EAGER = env_bool("PATCHBAY_TEST_CELERY_EAGER", True)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
# Worker processes a test starts (tests/processes.py) consume a queue of their own.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("PATCHBAY_TEST_CELERY_QUEUE", "celery")
CELERY_WORKER_LOST_WAIT = 1.0  # a killed pool process is noticed in a second, not ten
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files from the app folders (no collectstatic before tests), as runserver would.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
