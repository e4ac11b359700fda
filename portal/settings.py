"""Steward settings, read from the environment.

Defaults are the embedded set-up (SQLite, tasks run in-process) with production-safe
security: DEBUG is off unless asked for, and the security headers below hold whenever it is.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --------------------------------------------------------------------------------------------
# Core
# --------------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# Required to serve: wsgi.py and asgi.py refuse to start with an empty key.
# Commands that sign nothing (makemigrations, check) run without one.
SECRET_KEY = env(
    "SECRET_KEY", default="insecure-dev-key-only-for-the-embedded-default" if DEBUG else ""
)
# Keys retired from SECRET_KEY, still accepted for what they signed (sessions, reset links).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_NAME = env("SITE_NAME", default="Steward")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "simple_history",
    "rules.apps.AutodiscoverRulesConfig",
    "portal",
    "registry",
    "assessments",
    "monitoring",
    "incidents",
    "compliance",  # frameworks, obligations, controls, evidence; beside incidents
    "dashboard",
    "devtools",  # demo seeding and benchmarks; above every domain app
    "people",  # invitations, roles and units without the Django admin; top layer
    "search",  # the navigation bar's search over every app; top layer
]

MIDDLEWARE = [
    # First of all: the request id and the access log line cover everything below.
    "portal.observability.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "portal.middleware.SessionBackendUpgradeMiddleware",  # sessions from before AccessBackend
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "portal.middleware.PdfTimeoutMiddleware",  # a PDF past its deadline: 503 and a message
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

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
                "portal.context_processors.navigation",
            ],
        },
    },
]

# --------------------------------------------------------------------------------------------
# Database: SQLite is the embedded default; production and CI use PostgreSQL.
# --------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
# Server-side cursors cost round trips for every form dropdown and break behind PgBouncer.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
    "DISABLE_SERVER_SIDE_CURSORS", default=True
)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default has a worker beside the web server: writers wait their turn (up to
    # 20 s) instead of failing at once, and readers never wait for a writer (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Where processes keep their working state (beat's schedule, the embedded broker's queues):
# outside the code, so a checkout stays clean and a deploy can replace it.
STATE_DIR = Path(
    env("STATE_DIR", default=str(Path(env("XDG_STATE_HOME", default="~/.local/state")) / "steward"))
).expanduser()

# --------------------------------------------------------------------------------------------
# Authentication and permissions: rules decide, guardian stores per-record grants.
# --------------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    # ModelBackend, reading the person's roles and units with them on every request.
    "portal.access.AccessBackend",
]
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --------------------------------------------------------------------------------------------
# Security headers. They apply whatever DEBUG says, except the HTTPS-only ones, which follow
# SECURE (on by default, off for the embedded default that serves plain HTTP on 127.0.0.1).
# --------------------------------------------------------------------------------------------
SECURE = env.bool("SECURE", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SECURE)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, read with one written statement (portal/sessions.py).
SESSION_ENGINE = "portal.sessions"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Everything the pages load comes from this origin; no inline script is allowed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# --------------------------------------------------------------------------------------------
# Static files: front-end packages are installed from the npm registry at set-up into
# node_modules/ and served from this origin (never committed, never loaded from a CDN).
# --------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# Where `npm ci` put them (portal/checks.py refuses collectstatic and start when they are missing).
NODE_MODULES = Path(env("NODE_MODULES", default=str(BASE_DIR / "node_modules")))
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "STATICFILES_BACKEND",
            default="django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))

# --------------------------------------------------------------------------------------------
# Internationalisation
# --------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", default="Europe/London")
USE_I18N = True
USE_TZ = True

# --------------------------------------------------------------------------------------------
# Email: printed to the console unless an SMTP server is configured.
# --------------------------------------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if env("EMAIL_HOST", default="")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Steward <steward@localhost>")

# --------------------------------------------------------------------------------------------
# Celery: Redis in production. Without a broker, tasks run in-process (the embedded default).
# --------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
# The queue tasks are sent to and a worker reads by default ("celery", Celery's own). The test
# suite gives each of its parallel processes, and that process's worker, a queue of its own.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
# A worker killed mid-task: its task goes back to the queue at once (with acks late) ...
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# ... and one lost with a worker that vanished (Redis hands unacknowledged tasks out again
# after this long): longer than the longest task (a pull's retries, a PDF), far less than
# Redis's default hour.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600),
    # The embedded broker (make run): queues as files in the state folder.
    **(
        {
            "data_folder_in": str(STATE_DIR / "broker"),
            "data_folder_out": str(STATE_DIR / "broker"),
            "processed_folder": str(STATE_DIR / "broker-done"),
            "control_folder": str(STATE_DIR / "broker-control"),
            "store_processed": False,
            "polling_interval": 0.2,
        }
        if CELERY_BROKER_URL.startswith("filesystem://")
        else {}
    ),
}
CELERY_TIMEZONE = TIME_ZONE
# Beat keeps its schedule state outside the code: in the state folder.
CELERY_BEAT_SCHEDULE_FILENAME = str(STATE_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULER = "portal.beat:Scheduler"

# The outbox (portal/outbox.py): side effects written with their change, relayed after it.
# A message handed to the broker but not done after this many seconds is handed out again.
OUTBOX_REDISPATCH_SECONDS = env.int("OUTBOX_REDISPATCH_SECONDS", default=300)
# Done messages (and idempotency keys) are kept this many days, then pruned.
OUTBOX_KEEP_DAYS = env.int("OUTBOX_KEEP_DAYS", default=7)

# Health (portal/health.py): /readyz is not ready when the worker's heartbeat (every 30 s) or
# beat's tick (every 10 s) is older than these, or a side effect waits longer than this.
READYZ_WORKER_MAX_AGE = env.int("READYZ_WORKER_MAX_AGE", default=120)
READYZ_BEAT_MAX_AGE = env.int("READYZ_BEAT_MAX_AGE", default=60)
READYZ_BROKER_TIMEOUT = env.float("READYZ_BROKER_TIMEOUT", default=2.0)
OUTBOX_MAX_AGE_SECONDS = env.int("OUTBOX_MAX_AGE_SECONDS", default=300)
# /metrics answers only with "Authorization: Bearer <this>"; empty: /metrics is off (404).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
CELERY_BEAT_SCHEDULE = {
    "flag-use-cases-past-review-date": {
        "task": "registry.tasks.flag_overdue_reviews",
        "schedule": 60 * 60,
    },
    "flag-assessments-past-valid-until": {
        "task": "assessments.tasks.flag_overdue_assessments",
        "schedule": 60 * 60,
    },
    # Uploaded evidence no answer ever pointed at (assessments/services/evidence.py).
    "prune-unattached-evidence": {
        "task": "assessments.tasks.prune_unattached_evidence",
        "schedule": 60 * 60,
    },
    # Each minute: hand the due metric sources to the workers, then check the rules.
    "pull-due-metric-sources": {
        "task": "monitoring.tasks.dispatch_due_sources",
        "schedule": 60,
    },
    "evaluate-monitoring-rules": {
        "task": "monitoring.tasks.evaluate_rules",
        "schedule": 60,
    },
    "send-budget-alerts": {
        "task": "monitoring.tasks.check_budgets",
        "schedule": 15 * 60,
    },
    # Daily: every production use case still passing the go-live gate (services/gate_watch.py).
    "watch-live-gate": {
        "task": "monitoring.tasks.watch_live_gate",
        "schedule": 24 * 60 * 60,
    },
    "deliver-webhooks": {
        "task": "incidents.tasks.deliver_due_webhooks",
        "schedule": 30,
    },
    "remind-incident-deadlines": {
        "task": "incidents.tasks.remind_deadlines",
        "schedule": 15 * 60,
    },
    # Obligations: statuses as of today, evidence about to expire, exceptions past their date.
    "compliance-nightly": {"task": "compliance.tasks.nightly", "schedule": 60 * 60},
    # The outbox: each commit relays its own messages; this drains what a broker outage
    # left behind, and hands out again what a lost worker never finished.
    "relay-outbox": {"task": "portal.tasks.relay_outbox", "schedule": 10},
    "prune-outbox": {"task": "portal.tasks.prune_outbox", "schedule": 24 * 60 * 60},
    # Workers are alive (/readyz): the time a worker last ran this.
    "heartbeat": {"task": "portal.tasks.heartbeat", "schedule": 30},
    # Each day: the go-live gate asked again for live use cases, then this month's KPI
    # snapshot kept (dashboard/snapshots.py); a month ends with its last day's figures.
    "kpi-snapshots": {"task": "dashboard.tasks.take_kpi_snapshots", "schedule": 24 * 60 * 60},
    # Each hour: last month's board pack made, once, and leadership emailed a link to it.
    "monthly-board-pack": {"task": "dashboard.tasks.send_board_pack", "schedule": 60 * 60},
    # Each hour: the daily digest to people who chose it, once a day from
    # NOTIFICATION_DIGEST_HOUR (portal/notify.py).
    "notification-digests": {"task": "portal.tasks.send_digests", "schedule": 60 * 60},
    # Chain what a crashed process recorded but did not seal (each commit seals its own).
    "seal-ledger": {
        "task": "portal.tasks.seal_ledger",
        "schedule": 60,
    },
}

# --------------------------------------------------------------------------------------------
# Assessments
# --------------------------------------------------------------------------------------------
# How long a signed-off assessment stays valid, by the use case's risk tier; a template may
# set a shorter time for its own result levels (validity_months). The shorter one applies.
ASSESSMENT_VALID_MONTHS_BY_TIER = {
    "prohibited": 3,
    "high": 12,
    "limited": 24,
    "minimal": 36,
    "outside": 36,
    "unscreened": 12,
}
# An assessment waiting this many days in review (or for sign-off) is listed on the dashboard.
ASSESSMENT_STUCK_DAYS = env.int("ASSESSMENT_STUCK_DAYS", default=14)
# People who chose a daily digest of their notifications get it from this hour (local time).
NOTIFICATION_DIGEST_HOUR = env.int("NOTIFICATION_DIGEST_HOUR", default=7)
# Where people reach the portal, for links in emails.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
# The go-live gate asks each deployed model version's card to be at least this complete (%).
MODEL_CARD_MIN_COMPLETENESS = env.int("MODEL_CARD_MIN_COMPLETENESS", default=80)
EVIDENCE_MAX_BYTES = env.int("EVIDENCE_MAX_BYTES", default=20 * 1024 * 1024)
# Evidence uploaded but never referred to by any answer is deleted after this many hours.
EVIDENCE_UNATTACHED_HOURS = env.int("EVIDENCE_UNATTACHED_HOURS", default=24)
# The MLflow tracking server models are imported from (e.g. http://mlflow.internal:5000);
# empty means each import names one. Each request to it gives up after this many seconds.
MLFLOW_TRACKING_URI = env("MLFLOW_TRACKING_URI", default="")
MLFLOW_TIMEOUT_SECONDS = env.float("MLFLOW_TIMEOUT_SECONDS", default=10.0)

# --------------------------------------------------------------------------------------------
# Monitoring
# --------------------------------------------------------------------------------------------
# Money in cost samples and budgets is in this currency (ISO 4217).
COST_CURRENCY = env("COST_CURRENCY", default="GBP")
# Pulling from metric sources: each request gives up after this many seconds, reads at most
# this many bytes, and a failing pull is tried again this many times, backing off.
MONITORING_TIMEOUT_SECONDS = env.float("MONITORING_TIMEOUT_SECONDS", default=10.0)
MONITORING_MAX_RESPONSE_BYTES = env.int("MONITORING_MAX_RESPONSE_BYTES", default=5 * 1024 * 1024)
# The most samples one push may carry.
MONITORING_MAX_BATCH = env.int("MONITORING_MAX_BATCH", default=10_000)
MONITORING_RETRIES = env.int("MONITORING_RETRIES", default=3)
MONITORING_RETRY_BACKOFF_SECONDS = env.float("MONITORING_RETRY_BACKOFF_SECONDS", default=5.0)
# Sources are never pulled from loopback, private, link-local or cloud-metadata addresses
# (or names resolving to them) unless the address is in one of these networks,
# e.g. "10.20.0.0/16,127.0.0.1/32".
MONITORING_ALLOWED_NETWORKS = env.list("MONITORING_ALLOWED_NETWORKS", default=[])
# Keys that encrypt source credentials (Fernet keys, newest first, so old ones can be rotated
# out). Empty: a key derived from SECRET_KEY.
MONITORING_CREDENTIAL_KEYS = env.list("MONITORING_CREDENTIAL_KEYS", default=[])

# --------------------------------------------------------------------------------------------
# Incidents
# --------------------------------------------------------------------------------------------
# A runbook confirmed longer ago than this no longer counts as current for the go-live gate.
RUNBOOK_VALID_MONTHS = env.int("RUNBOOK_VALID_MONTHS", default=12)
# Compliance: an applicable obligation is due this many days after it starts to apply, and
# the owners of evidence are told this many days before it expires.
COMPLIANCE_DUE_DAYS = env.int("COMPLIANCE_DUE_DAYS", default=90)
COMPLIANCE_EXPIRY_NOTICE_DAYS = env.int("COMPLIANCE_EXPIRY_NOTICE_DAYS", default=30)
# How often deployed systems are told to poll the kill switch (seconds).
KILL_SWITCH_POLL_SECONDS = env.int("KILL_SWITCH_POLL_SECONDS", default=30)
# A token's last poll time is written by each web process in batches, at most this late (s).
KILL_SWITCH_POLL_FLUSH_SECONDS = env.float("KILL_SWITCH_POLL_FLUSH_SECONDS", default=1.0)
# Each web process answers polls from its own copy of the tokens and switches, read again when
# older than this (s): a switch-off reaches every poll sent this long after it committed.
# Keep it well under KILL_SWITCH_POLL_SECONDS (at most half); 0 reads the database every poll.
KILL_SWITCH_CACHE_SECONDS = env.float("KILL_SWITCH_CACHE_SECONDS", default=2.0)
# WSGI wrappers around Django (portal/wsgi.py), outermost first. The kill-switch poll is
# answered before Django's middleware when it needs no query (incidents/killswitch_api.py).
WSGI_SHORTCUTS = env.list("WSGI_SHORTCUTS", default=["incidents.killswitch_api.PollShortcut"])
# A regulatory deadline this close (hours) is "near": on the dashboard, and the owner is told.
INCIDENT_DEADLINE_NEAR_HOURS = env.int("INCIDENT_DEADLINE_NEAR_HOURS", default=24)
# Webhooks: each attempt gives up after this many seconds; failed ones are retried with
# exponential backoff (first wait below, doubling, at most an hour) this many times.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_RETRY_SECONDS = env.float("WEBHOOK_RETRY_SECONDS", default=30.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=12)

# --------------------------------------------------------------------------------------------
# Bounded work: request bodies, JSON nesting and PDF layout (docs/api.md#limits)
# --------------------------------------------------------------------------------------------
# A request body (other than a file upload) larger than this answers 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
# JSON nested deeper than this (arrays and objects) answers 400.
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=64)
# A PDF still being laid out after this many seconds is stopped: 503 and a message (0: no limit).
PDF_RENDER_TIMEOUT_SECONDS = env.float("PDF_RENDER_TIMEOUT_SECONDS", default=20.0)

# --------------------------------------------------------------------------------------------
# REST API
# --------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so a bad or missing token answers 401 with WWW-Authenticate.
        "portal.api.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every viewset is checked against its named rules (action_rules); see portal/api.py.
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.RulePermission"],
    "EXCEPTION_HANDLER": "portal.api_views.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON nested deeper than API_JSON_MAX_DEPTH answers 400, not a RecursionError (500).
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Requests per token (personal or push), a 429 with Retry-After beyond: portal/throttle.py.
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.TokenRateThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Steward API",
    "DESCRIPTION": "Govern the AI a firm runs in production: the use-case register and more.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Named per app, so a later app's own "status" or "kind" choices get their own names.
    "ENUM_NAME_OVERRIDES": {
        "AssessmentStatusEnum": "assessments.models.Status",
        "AssessmentKindEnum": "assessments.models.Kind",
        "ReviewDecisionEnum": "assessments.models.ReviewAssignment.Decision",
        "ModelApprovalStatusEnum": "registry.models.ApprovalStatus",
        "DestinationEnum": "registry.models.Destination",
        # A use case's lifecycle, and where a go-live record's move started and ended.
        "LifecycleEnum": "registry.models.Lifecycle",
        "MetricSourceKindEnum": "monitoring.models.SourceKind",
        "DistributionKindEnum": "monitoring.models.DistributionKind",
        # A flag's severity and a release finding's (registry.models.Severity) are the same
        # four choices, so one component: two names for one choice set is an error.
        "SeverityEnum": "monitoring.models.Severity",
        "FlagStatusEnum": "monitoring.models.FlagStatus",
        "RuleAggregationEnum": "monitoring.models.Aggregation",
        "RuleComparisonEnum": "monitoring.models.Comparison",
        "RuleActionEnum": "monitoring.models.RuleAction",
        "RuleSubjectEnum": "monitoring.models.RuleSubject",
        "IncidentSeverityEnum": "incidents.models.Severity",
        "IncidentStatusEnum": "incidents.models.Status",
        "IncidentDetectedByEnum": "incidents.models.DetectedBy",
        "SeriousHarmEnum": "incidents.models.SeriousHarm",
        "TimelineEntryKindEnum": "incidents.models.EntryKind",
        # Releases of model versions (registry/models/releases.py).
        "ReleaseStageEnum": "registry.models.ReleaseStage",
        "PromotionKindEnum": "registry.models.PromotionKind",
        "PromotionStatusEnum": "registry.models.PromotionStatus",
        "PromotionDecisionEnum": "registry.models.Decision",
        "ApproverRoleEnum": "registry.models.ApproverRole",
        "EvaluationSourceEnum": "registry.models.EvaluationSource",
        "FindingKindEnum": "registry.models.FindingKind",
        "FindingStatusEnum": "registry.models.FindingStatus",
        "RiskTierEnum": "registry.models.RiskTier",
    },
}

# --------------------------------------------------------------------------------------------
# Steward
# --------------------------------------------------------------------------------------------
REGISTER_PAGE_SIZE = env.int("REGISTER_PAGE_SIZE", default=25)

# --------------------------------------------------------------------------------------------
# Limits on guessing (portal/throttle.py) and the cache that counts attempts
# --------------------------------------------------------------------------------------------
# Shared by every web process: a database table by default (created after migrate), or e.g.
# redis://host:6379/1. A cache in one process's memory would let each process be guessed at.
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://steward_cache")}
# Sign-in (the portal's and the admin's) and the sign-off's password: this many failures for
# one person lock them out for the rest of this many minutes.
SIGN_IN_MAX_FAILURES = env.int("SIGN_IN_MAX_FAILURES", default=5)
SIGN_IN_LOCKOUT_MINUTES = env.float("SIGN_IN_LOCKOUT_MINUTES", default=15)
# Password-reset emails per address in this many minutes.
PASSWORD_RESET_MAX_REQUESTS = env.int("PASSWORD_RESET_MAX_REQUESTS", default=5)
PASSWORD_RESET_WINDOW_MINUTES = env.float("PASSWORD_RESET_WINDOW_MINUTES", default=60)
# API requests per token (a person's API token or a push source's), e.g. "600/minute".
API_RATE_PER_TOKEN = env("API_RATE_PER_TOKEN", default="600/minute")

# ====================================================================================
# The ledger and history retention (portal/ledger/)
# ====================================================================================
# A checkpoint (the chain's hash at a position) every this many entries.
LEDGER_CHECKPOINT_EVERY = env.int("LEDGER_CHECKPOINT_EVERY", default=10_000)
# Chain new entries as soon as the change that wrote them commits (beat also seals each minute).
LEDGER_SEAL_ON_COMMIT = env.bool("LEDGER_SEAL_ON_COMMIT", default=True)
# How long history versions and their ledger payloads are kept, in days; empty: forever.
# Nothing is pruned by itself: manage.py history_prune removes what is older, and records it.
HISTORY_RETENTION_DAYS = env.int("HISTORY_RETENTION_DAYS", default=None)
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=2 * 1024 * 1024)
# Each imported row runs the register's service: more rows than this are refused at once.
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=500)

# Every line has its time, level, logger and request id (portal/observability.py); LOG_FORMAT
# =json writes one JSON object per line instead. ACCESS_LOG=false leaves out the line per
# request (steward.access), e.g. where gunicorn's access log is kept instead.
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.observability.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "portal.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # WeasyPrint and its font tools narrate every step of a PDF at INFO.
    "loggers": {
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        "steward.access": {"level": "INFO" if env.bool("ACCESS_LOG", default=True) else "WARNING"},
        # Django's own line per request duplicates steward.access (kept for errors).
        "django.server": {"level": "WARNING"},
        # Tasks run in-process (the embedded default) need no broker or per-task chatter.
        **(
            {"celery": {"level": "WARNING"}, "kombu": {"level": "ERROR"}}
            if CELERY_TASK_ALWAYS_EAGER
            # The embedded broker has no host, which kombu warns of on every connection.
            else {"kombu.connection": {"level": "ERROR"}}
            if CELERY_BROKER_URL.startswith("filesystem://")
            else {}
        ),
    },
}

# Permissions are decided by the rules in each app's rules.py, which consult guardian's
# per-record grants themselves; guardian's own backend would be a second, divergent answer.
SILENCED_SYSTEM_CHECKS = ["guardian.W001"]
# Change reasons are what people typed (up to 1,000 characters), not 100-character labels.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
