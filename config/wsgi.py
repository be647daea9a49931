import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_wsgi_application()

import config.urls  # noqa: E402, F401 - every view and the API, loaded before the freeze

# What is loaded now lives as long as the process: frozen, no full garbage collection walks it again
# (walking it cost list requests several milliseconds whenever one fell on them, bench/api_list.py).
gc.freeze()
