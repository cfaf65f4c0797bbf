"""Settings for the test suite: the real settings module, with a test environment.

DATABASE_URL still selects the database (the test command runs the suite on SQLite, then on
PostgreSQL); everything else is what a development machine would use.
"""

import base64
import os
import secrets

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-" + secrets.token_urlsafe(60))
# secrets at rest (manager passwords, private keys) need a key, as in production; one per test process
os.environ.setdefault("HOSTPANEL_SECRETS_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
os.environ.setdefault("HOSTPANEL_TASKS_BACKEND", "immediate")
os.environ.setdefault("HOSTPANEL_AUTO_DEPLOY", "0")
os.environ.setdefault("HOSTPANEL_DEPLOY_RETRY_BACKOFF", "0.05")  # transient failures retry quickly in tests
# most tests deploy to local front-ends under tmp_path; the tests of the refusal turn it off
os.environ.setdefault("HOSTPANEL_LOCAL_TRANSPORT", "1")
# the shared-cache in-memory SQLite test database takes no writes from several threads: one order at a time
# (tests on PostgreSQL turn parallel orders on themselves)
os.environ.setdefault("HOSTPANEL_ACME_PARALLEL_ORDERS", "1")
# most front-ends in tests have no Apache behind them; the real-Apache fleets turn the release proof on
os.environ.setdefault("HOSTPANEL_VERIFY_RELEASE", "0")

from hostpanel.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests only

# A per-process test database name, so parallel test runs on one PostgreSQL server never collide
# (pytest-xdist appends its worker id to this).
if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"].setdefault("TEST", {})["NAME"] = (  # noqa: F405
        f"test_{DATABASES['default']['NAME']}_{os.getpid()}"  # noqa: F405
    )
