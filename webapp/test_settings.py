"""Settings for the test suite: the production settings with a throw-away secret key.

Everything else (DATABASE_URL, CELERY_BROKER_URL) comes from the environment that bin/test prepares.
"""

import os

# Long enough for the start-up guard (50+ characters, webapp/settings.py) and plainly not for production.
TEST_SECRET_KEY = "test-only-secret-key-never-use-in-production-0123456789abcdef"
os.environ.setdefault("DJANGO_SECRET_KEY", TEST_SECRET_KEY)

from webapp.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# Live-server request threads must not keep connections open: the test database is dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# Part C (egress): the local test server listens on 127.0.0.1 at a random port, and tests that expect a
# refused connection use the discard port 127.0.0.1:9, so loopback is allowed on any port here; the
# refusal tests (webapp/tests/test_egress.py) set these lists back with the `settings` fixture. Also in
# the environment, for the worker processes tests start with webapp.settings.
os.environ.setdefault("SKINFLOW_ALLOWED_ENDPOINT_HOSTS", "127.0.0.1,localhost")
SKINFLOW_ALLOWED_ENDPOINT_HOSTS = os.environ["SKINFLOW_ALLOWED_ENDPOINT_HOSTS"]
