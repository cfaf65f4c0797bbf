"""HostPanel settings. Every value comes from the environment (see README.md and .env.example)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError

from hostpanel.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    parse_database_url,
)
from hostpanel.proxies import parse_trusted_proxies
from hostpanel.validators import parse_staff_networks

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("HOSTPANEL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        if not DEBUG and len(key) < 50:
            raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production")
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )
    # Development: generated once into var/, never a constant in the repository.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_tasks_db",
    "hostpanel",
    "balancers",
    "sites",
    "certificates",
    "operations",
    "alerts",
    "metering",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "hostpanel.sessions.IdleTimeoutMiddleware",  # after auth and messages: it logs out and says why
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # last, so it sees the authentication result (django-axes: throttles repeated failed logins)
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "hostpanel.urls"
WSGI_APPLICATION = "hostpanel.wsgi.application"
ASGI_APPLICATION = "hostpanel.asgi.application"

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
                "hostpanel.permissions.panel_context",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'hostpanel.sqlite3'}"), base_dir=BASE_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
URLIZE_ASSUME_HTTPS = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- security (production values unless DEBUG) -------------------------------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Only behind a proxy that sets X-Forwarded-Proto itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- staff sessions (hostpanel/sessions.py) -----------------------------------------------
# A session unused for this long ends (background refreshes of an open page do not count as use).
HOSTPANEL_SESSION_IDLE_MINUTES = env_int("HOSTPANEL_SESSION_IDLE_MINUTES", 240, minimum=1, maximum=20160)
# Delete, rollback and import apply ask for the password again unless it was given this recently (0: always).
HOSTPANEL_REAUTH_MINUTES = env_int("HOSTPANEL_REAUTH_MINUTES", 5, minimum=0, maximum=1440)

# --- login throttling (django-axes) ------------------------------------------------------
AXES_FAILURE_LIMIT = env_int("HOSTPANEL_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_float("HOSTPANEL_LOGIN_COOLOFF_HOURS", 0.25, minimum=0.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
# the same client address as the API's network limits (X-Forwarded-For only from a trusted proxy)
AXES_CLIENT_IP_CALLABLE = "hostpanel.proxies.client_address"

# --- the TLS proxy in front of the panel ---------------------------------------------------
# CIDRs whose connections may say who the client is (X-Forwarded-For); empty: REMOTE_ADDR, always.
try:
    HOSTPANEL_TRUSTED_PROXIES = parse_trusted_proxies(env_list("HOSTPANEL_TRUSTED_PROXIES", []))
except ValueError as exc:
    raise ImproperlyConfigured(f"HOSTPANEL_TRUSTED_PROXIES: {exc}") from None

# --- staff networks (site options) ---------------------------------------------------------
# CIDRs whose clients may reach a site's Zope management interface when the site says "staff", and every
# edit host. Rendered ONCE into routing-http.conf and routing-https.conf (a Require-like expression), so a
# change here is a config change (configtest + graceful reload of every front-end, at the next deployment);
# a site's own choice stays in the routing map and changes without a reload. Default: loopback only.
try:
    HOSTPANEL_STAFF_NETWORKS = parse_staff_networks(env_list("HOSTPANEL_STAFF_NETWORKS", ["127.0.0.0/8", "::1/128"]))
except ValidationError as exc:
    raise ImproperlyConfigured(f"HOSTPANEL_STAFF_NETWORKS: {' '.join(exc.messages)}") from None

# --- background tasks (django.tasks) -----------------------------------------------------
TASKS_BACKEND = env_choice("HOSTPANEL_TASKS_BACKEND", "db", ("db", "rq", "immediate"))
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
if TASKS_BACKEND == "db":
    TASKS: dict[str, dict] = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASKS_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600}}
else:
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
# `manage.py deploy_worker` (the db backend's worker) is woken through a socket in this directory as soon as
# a deployment is queued; it looks at its queue every HOSTPANEL_WORKER_INTERVAL seconds anyway.
HOSTPANEL_WAKE_DIR = Path(env_str("HOSTPANEL_WAKE_DIR", str(VAR_DIR / "wake")))
HOSTPANEL_WORKER_INTERVAL = env_float("HOSTPANEL_WORKER_INTERVAL", 1.0, minimum=0.01)

# --- HostPanel ---------------------------------------------------------------------------
HOSTPANEL_AUTO_DEPLOY = env_bool("HOSTPANEL_AUTO_DEPLOY", True)
# The "local" transport deploys to (and runs the configtest/reload commands on) the panel's own host,
# which holds the SSH key, SECRET_KEY and the database password: only for single-box installs and the demo.
HOSTPANEL_LOCAL_TRANSPORT = env_bool("HOSTPANEL_LOCAL_TRANSPORT", False)
HOSTPANEL_SSH_KEY = env_str("HOSTPANEL_SSH_KEY", "")
HOSTPANEL_SSH_TIMEOUT = env_float("HOSTPANEL_SSH_TIMEOUT", 10.0, minimum=0.1)
# Wall-clock bound on one upload stream (a release's changed files, sent as a command's stdin): a host that
# stops reading fails the stage instead of holding its front-end lease forever.
HOSTPANEL_SSH_UPLOAD_SECONDS = env_float("HOSTPANEL_SSH_UPLOAD_SECONDS", 300.0, minimum=1.0)
HOSTPANEL_DEPLOY_PARALLELISM = env_int("HOSTPANEL_DEPLOY_PARALLELISM", 8, minimum=1, maximum=64)
# Reliability (docs/reliability.md): the worker's heartbeat lease on a running deployment and on each
# front-end it holds (renewed every quarter of it); a queued deployment no worker claimed within
# REQUEUE seconds is handed to the queue again by the reaper; transient connection failures are
# retried RETRIES times, waiting RETRY_BACKOFF seconds, doubled each time.
HOSTPANEL_DEPLOY_LEASE_SECONDS = env_int("HOSTPANEL_DEPLOY_LEASE_SECONDS", 60, minimum=2, maximum=3600)
HOSTPANEL_DEPLOY_REQUEUE_SECONDS = env_int("HOSTPANEL_DEPLOY_REQUEUE_SECONDS", 120, minimum=1, maximum=86400)
# The doubling requeue wait never exceeds this; a deployment queued longer raises a deployment_waiting alert.
HOSTPANEL_DEPLOY_REQUEUE_MAX_SECONDS = env_int("HOSTPANEL_DEPLOY_REQUEUE_MAX_SECONDS", 900, minimum=1, maximum=86400)
HOSTPANEL_DEPLOY_RETRIES = env_int("HOSTPANEL_DEPLOY_RETRIES", 2, minimum=0, maximum=10)
HOSTPANEL_DEPLOY_RETRY_BACKOFF = env_float("HOSTPANEL_DEPLOY_RETRY_BACKOFF", 2.0, minimum=0.0)
# Retention (manage.py cleanup, and daily by manage.py reap --loop): stored trees kept per front-end
# (plus every tree a host has activated or a queued/running deployment needs), deployments kept (days).
HOSTPANEL_KEEP_TREES = env_int("HOSTPANEL_KEEP_TREES", 50, minimum=1)
HOSTPANEL_KEEP_DEPLOYMENT_DAYS = env_int("HOSTPANEL_KEEP_DEPLOYMENT_DAYS", 90, minimum=1)
# Traffic usage (#29, metering.retention): hourly rows kept (days), then rolled up into daily rows; daily rows
# kept for good (0) or this many days. A month's bill needs every day of it: keep at least 62 days hourly or daily.
HOSTPANEL_USAGE_HOURLY_DAYS = env_int("HOSTPANEL_USAGE_HOURLY_DAYS", 62, minimum=2, maximum=3660)
HOSTPANEL_USAGE_DAILY_DAYS = env_int("HOSTPANEL_USAGE_DAILY_DAYS", 0, minimum=0)
if HOSTPANEL_USAGE_DAILY_DAYS and HOSTPANEL_USAGE_DAILY_DAYS < HOSTPANEL_USAGE_HOURLY_DAYS:
    raise ImproperlyConfigured(
        "HOSTPANEL_USAGE_DAILY_DAYS must be 0 (kept for good) or at least HOSTPANEL_USAGE_HOURLY_DAYS"
    )
# Caps on what the panel reads from a front-end (bytes): one file, one whole tree, one command's output.
HOSTPANEL_READ_FILE_MAX_BYTES = env_int("HOSTPANEL_READ_FILE_MAX_BYTES", 16 * 1024 * 1024, minimum=1024)
HOSTPANEL_READ_TREE_MAX_BYTES = env_int("HOSTPANEL_READ_TREE_MAX_BYTES", 256 * 1024 * 1024, minimum=1024)
HOSTPANEL_COMMAND_OUTPUT_MAX_BYTES = env_int("HOSTPANEL_COMMAND_OUTPUT_MAX_BYTES", 1024 * 1024, minimum=1024)
HOSTPANEL_STATUS_TIMEOUT = env_float("HOSTPANEL_STATUS_TIMEOUT", 2.0, minimum=0.1)
HOSTPANEL_STATUS_POLL_SECONDS = env_int("HOSTPANEL_STATUS_POLL_SECONDS", 30, minimum=5)
HOSTPANEL_STATUS_HISTORY_MINUTES = env_int("HOSTPANEL_STATUS_HISTORY_MINUTES", 120, minimum=60, maximum=10080)
# Saturation alert (alerts.conditions, from the mod_status samples): busy workers at or above this share of
# MaxRequestWorkers in every sample for this long (minutes; fractions allowed) fires it; one sample below resolves it.
HOSTPANEL_SATURATION_PERCENT = env_int("HOSTPANEL_SATURATION_PERCENT", 90, minimum=1, maximum=100)
HOSTPANEL_SATURATION_MINUTES = env_float("HOSTPANEL_SATURATION_MINUTES", 2.0, minimum=0.0)

# --- TLS: ACME certificates and secrets at rest (certificates/) ------------------------------
# The ACME directory the panel orders from (Let's Encrypt staging/production, or pebble in tests); empty = no ACME.
HOSTPANEL_ACME_DIRECTORY = env_str("HOSTPANEL_ACME_DIRECTORY", "").strip()
if HOSTPANEL_ACME_DIRECTORY and not re.fullmatch(r"https?://\S+", HOSTPANEL_ACME_DIRECTORY):
    raise ImproperlyConfigured(f"HOSTPANEL_ACME_DIRECTORY must be an http(s) URL (got {HOSTPANEL_ACME_DIRECTORY!r})")
HOSTPANEL_ACME_EMAIL = env_str("HOSTPANEL_ACME_EMAIL", "").strip()
if HOSTPANEL_ACME_EMAIL and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", HOSTPANEL_ACME_EMAIL):
    raise ImproperlyConfigured(f"HOSTPANEL_ACME_EMAIL must be an e-mail address (got {HOSTPANEL_ACME_EMAIL!r})")
# CA file to trust for the ACME server's own HTTPS (pebble's test certificate); empty = the system's CAs.
HOSTPANEL_ACME_CA_BUNDLE = env_str("HOSTPANEL_ACME_CA_BUNDLE", "").strip()
if HOSTPANEL_ACME_CA_BUNDLE and not Path(HOSTPANEL_ACME_CA_BUNDLE).is_file():
    raise ImproperlyConfigured(
        f"HOSTPANEL_ACME_CA_BUNDLE must name an existing file (got {HOSTPANEL_ACME_CA_BUNDLE!r})"
    )
# Roots a customer's own certificate must chain up to; empty = the public roots (certifi's bundle).
HOSTPANEL_CUSTOM_CA_BUNDLE = env_str("HOSTPANEL_CUSTOM_CA_BUNDLE", "").strip()
if HOSTPANEL_CUSTOM_CA_BUNDLE and not Path(HOSTPANEL_CUSTOM_CA_BUNDLE).is_file():
    raise ImproperlyConfigured(
        f"HOSTPANEL_CUSTOM_CA_BUNDLE must name an existing file (got {HOSTPANEL_CUSTOM_CA_BUNDLE!r})"
    )
# Seconds one order may take from newOrder to the downloaded certificate.
HOSTPANEL_ACME_ORDER_TIMEOUT = env_int("HOSTPANEL_ACME_ORDER_TIMEOUT", 90, minimum=10, maximum=3600)
# The port the CA's http-01 validation (and the pre-flight check) knocks on at the front-ends. Let's Encrypt
# always uses 80; only a test CA (pebble's httpPort) differs.
HOSTPANEL_ACME_HTTP_PORT = env_int("HOSTPANEL_ACME_HTTP_PORT", 80, minimum=1, maximum=65535)
# Seconds between two renewal scans of `manage.py renew_certificates --loop` (bin/run starts it with ACME on).
# New orders do not wait for it: the worker is woken the moment a certificate is due (certificates.wake).
HOSTPANEL_ACME_SCAN_SECONDS = env_int("HOSTPANEL_ACME_SCAN_SECONDS", 60, minimum=5, maximum=86400)
# Certificates the ACME worker issues close together go live in one deployment (one graceful reload per
# front-end): a batch stays open while more orders are due, at most this many seconds from its first certificate
# (a lone certificate goes live at once).
HOSTPANEL_ACME_BATCH_SECONDS = env_float("HOSTPANEL_ACME_BATCH_SECONDS", 3.0, minimum=0.0)
# Orders one scan runs at once (each mostly waits for the CA's validation and the front-ends' uploads).
HOSTPANEL_ACME_PARALLEL_ORDERS = env_int("HOSTPANEL_ACME_PARALLEL_ORDERS", 4, minimum=1, maximum=32)
# At most this many ACME attempts per scan (the CA allows 300 new orders per 3 hours per account).
HOSTPANEL_ACME_SCAN_LIMIT = env_int("HOSTPANEL_ACME_SCAN_LIMIT", 50, minimum=1, maximum=300)
# Traffic metering (README "Traffic metering"): each front-end with a usage_log_dir logs every request of a
# client site through rotatelogs, one file per HOSTPANEL_USAGE_ROTATE_SECONDS (UTC-aligned); `manage.py
# collect_usage --loop` counts the closed files every HOSTPANEL_USAGE_COLLECT_SECONDS. A front-end whose waiting
# files (measured, or intervals since its last collection when it cannot be reached) pass
# HOSTPANEL_USAGE_BACKLOG_MAX_FILES raises the usage_backlog alert.
HOSTPANEL_USAGE_ROTATE_SECONDS = env_int("HOSTPANEL_USAGE_ROTATE_SECONDS", 3600, minimum=1, maximum=86400)
HOSTPANEL_USAGE_COLLECT_SECONDS = env_int("HOSTPANEL_USAGE_COLLECT_SECONDS", 300, minimum=5, maximum=86400)
HOSTPANEL_USAGE_BACKLOG_MAX_FILES = env_int("HOSTPANEL_USAGE_BACKLOG_MAX_FILES", 6, minimum=1)
# DNS server (host:port) the pre-flight check resolves site names with; empty = the system's resolver.
HOSTPANEL_DNS_RESOLVER = env_str("HOSTPANEL_DNS_RESOLVER", "").strip()
if HOSTPANEL_DNS_RESOLVER and not re.fullmatch(
    r"(\[[0-9a-fA-F:]+\]|[0-9A-Za-z.-]+):[0-9]{1,5}", HOSTPANEL_DNS_RESOLVER
):
    raise ImproperlyConfigured(f"HOSTPANEL_DNS_RESOLVER must look like 127.0.0.1:53 (got {HOSTPANEL_DNS_RESOLVER!r})")


def _secrets_keys() -> list[str]:
    """Fernet keys for private keys at rest: the first encrypts, every one decrypts (rotation)."""
    keys = env_list("HOSTPANEL_SECRETS_KEY", [])
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                "HOSTPANEL_SECRETS_KEY must be comma-separated Fernet keys. Generate one with: python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None
    if keys:
        return keys
    if not DEBUG:
        if HOSTPANEL_ACME_DIRECTORY:
            raise ImproperlyConfigured("HOSTPANEL_SECRETS_KEY is required when HOSTPANEL_ACME_DIRECTORY is set")
        return []  # certificates.crypto refuses to store a key until one is set
    # Development: generated once into var/, like SECRET_KEY.
    path = VAR_DIR / "secrets_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return [path.read_text().strip()]


HOSTPANEL_SECRETS_KEY = _secrets_keys()

# --- operations: rolling restarts, post-deploy probes, alerts (operations/, deploy/probes.py, alerts/) --
HOSTPANEL_RESTART_IDLE_TIMEOUT = env_float("HOSTPANEL_RESTART_IDLE_TIMEOUT", 120.0, minimum=0.0)
HOSTPANEL_RESTART_HEALTH_TIMEOUT = env_float("HOSTPANEL_RESTART_HEALTH_TIMEOUT", 300.0, minimum=1.0)
HOSTPANEL_RESTART_SETTLE_SECONDS = env_float("HOSTPANEL_RESTART_SETTLE_SECONDS", 30.0, minimum=0.0)
HOSTPANEL_RESTART_WARM_SITES = env_int("HOSTPANEL_RESTART_WARM_SITES", 3, minimum=0, maximum=100)
HOSTPANEL_RESTART_COMMAND_TIMEOUT = env_float("HOSTPANEL_RESTART_COMMAND_TIMEOUT", 300.0, minimum=1.0)
HOSTPANEL_PROBES = env_bool("HOSTPANEL_PROBES", True)
# Every deployment's verify step asks each listener for the release's own file (deploy.vhost_proof): proof
# that HostPanel's vhost answers there (not a stock vhost loaded before the Include). Off only for test rigs
# without an Apache behind the front-end.
HOSTPANEL_VERIFY_RELEASE = env_bool("HOSTPANEL_VERIFY_RELEASE", True)
HOSTPANEL_VERIFY_RELEASE_SAMPLE = env_int("HOSTPANEL_VERIFY_RELEASE_SAMPLE", 3, minimum=0, maximum=100)
HOSTPANEL_VERIFY_RELEASE_SECONDS = env_float("HOSTPANEL_VERIFY_RELEASE_SECONDS", 10.0, minimum=0.5)
HOSTPANEL_PROBE_SAMPLE = env_int("HOSTPANEL_PROBE_SAMPLE", 20, minimum=0, maximum=10000)
# A map-only change leaves every other line as it was: a few unchanged names still prove the new map is
# read at all (a broken one fails them, and they answered before: the change is reverted); the switch
# waits for their "before" answers, so fewer of them make the change live sooner.
HOSTPANEL_PROBE_SAMPLE_MAP_ONLY = env_int("HOSTPANEL_PROBE_SAMPLE_MAP_ONLY", 5, minimum=0, maximum=10000)
# Lines routes-recent.map (the routing overlay, rendering.routes) may hold before the next deployment
# makes a new base routes.map (one 1 MB upload and SDBM build per front-end at 10,000 sites). Apache reads
# the overlay as a txt map: a name it does not hold costs a scan of it once per child after each change.
HOSTPANEL_ROUTES_OVERLAY_MAX_LINES = env_int("HOSTPANEL_ROUTES_OVERLAY_MAX_LINES", 500, minimum=0, maximum=5000)
HOSTPANEL_PROBE_TIMEOUT = env_float("HOSTPANEL_PROBE_TIMEOUT", 10.0, minimum=0.5)
HOSTPANEL_PROBE_PARALLELISM = env_int("HOSTPANEL_PROBE_PARALLELISM", 16, minimum=1, maximum=128)
HOSTPANEL_ALERT_GRACE_SECONDS = env_int("HOSTPANEL_ALERT_GRACE_SECONDS", 120, minimum=0)
HOSTPANEL_ALERT_DRIFT_GRACE_SECONDS = env_int("HOSTPANEL_ALERT_DRIFT_GRACE_SECONDS", 600, minimum=0)
HOSTPANEL_ALERT_REPEAT_MINUTES = env_int("HOSTPANEL_ALERT_REPEAT_MINUTES", 240, minimum=1)
HOSTPANEL_ALERT_RETRY_SECONDS = env_int("HOSTPANEL_ALERT_RETRY_SECONDS", 30, minimum=0)
HOSTPANEL_ALERT_MAX_ATTEMPTS = env_int("HOSTPANEL_ALERT_MAX_ATTEMPTS", 5, minimum=1, maximum=20)
HOSTPANEL_ALERT_TIMEOUT = env_float("HOSTPANEL_ALERT_TIMEOUT", 5.0, minimum=0.5)
# messages sent at once by the delivery task (each within its deadline: one slow receiver delays no other)
HOSTPANEL_ALERT_PARALLELISM = env_int("HOSTPANEL_ALERT_PARALLELISM", 4, minimum=1, maximum=32)
HOSTPANEL_PANEL_URL = env_str("HOSTPANEL_PANEL_URL", "").strip().rstrip("/")  # links in alert messages
# E-mail alerts: Django's SMTP mailer (MAILERS), configured from the environment; its timeout bounds the
# whole conversation of one message (hostpanel.mail), not each operation.
_SMTP_SECURITY = env_choice("HOSTPANEL_SMTP_SECURITY", "none", ("none", "starttls", "ssl"))
MAILERS = {
    "default": {
        "BACKEND": "hostpanel.mail.DeadlineEmailBackend",
        "OPTIONS": {
            "host": env_str("HOSTPANEL_SMTP_HOST", "localhost"),
            "port": env_int("HOSTPANEL_SMTP_PORT", 25, minimum=1, maximum=65535),
            "username": env_str("HOSTPANEL_SMTP_USER", ""),
            "password": env_str("HOSTPANEL_SMTP_PASSWORD", ""),
            "use_tls": _SMTP_SECURITY == "starttls",
            "use_ssl": _SMTP_SECURITY == "ssl",
            "timeout": env_int("HOSTPANEL_SMTP_TIMEOUT", 10, minimum=1),
        },
    }
}
DEFAULT_FROM_EMAIL = env_str("HOSTPANEL_ALERT_FROM", "hostpanel@localhost")

# --- cache (API throttle counters) ---------------------------------------------------------
# locmem: per process (single worker); redis: one cache shared by every web worker (REDIS_URL).
CACHE_BACKEND = env_choice("HOSTPANEL_CACHE", "locmem", ("locmem", "redis"))
if CACHE_BACKEND == "redis":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- REST API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],  # the API takes JSON only
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
# Requests per token (staff sessions: per user) and period: N/s, N/min, N/hour or N/day. The counters
# live in the default cache (per process unless HOSTPANEL_CACHE=redis).
HOSTPANEL_API_RATE = env_str("HOSTPANEL_API_RATE", "600/min").strip()
if not re.fullmatch(r"[1-9][0-9]{0,8}/(s|sec|second|m|min|minute|h|hour|d|day)", HOSTPANEL_API_RATE):
    raise ImproperlyConfigured(f"HOSTPANEL_API_RATE must look like 600/min (got {HOSTPANEL_API_RATE!r})")
# How long a POST's Idempotency-Key is remembered (a retry within it gets the first response again).
HOSTPANEL_API_IDEMPOTENCY_HOURS = env_int("HOSTPANEL_API_IDEMPOTENCY_HOURS", 24, minimum=1, maximum=24 * 30)
SPECTACULAR_SETTINGS = {
    "TITLE": "HostPanel API",
    "DESCRIPTION": "Client sites, balancers, Zope servers, front-ends and deployments of HostPanel.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # request components hold only the writable fields (SiteRequest, PatchedSiteRequest ...): a generated
    # client's create model does not ask for status, url or created_at
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AlertEventEnum": "alerts.choices.AlertEvent",  # a channel's events and an alert's event
        "ServerKindEnum": "balancers.choices.ServerKind",  # servers and balancers
        "SiteKindEnum": "sites.choices.SiteKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"paramiko": {"level": "WARNING"}},
}
