"""Settings for the test suite: the production settings with a throw-away secret key.

Everything else (DATABASE_URL, CELERY_BROKER_URL) comes from the environment that bin/test prepares.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")

from webapp.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# Live-server request threads must not keep connections open: the test database is dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
