"""Configuration classes: read from the environment, with safe defaults for development."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent
load_dotenv(ROOT / ".env")

DEV_SECRET_KEY = "dev-only-not-secret"


def env_flag(name: str, default: bool = False) -> bool:
    """A true/false setting: `true`, `1` (or `yes`, `on`) and `false`, `0`
    (`no`, `off`), any case; unset or empty is the default. Anything else
    stops the store from starting rather than silently meaning one or the other."""
    text = (os.environ.get(name) or "").strip().lower()
    if not text:
        return default
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false (1 or 0), not {text!r}")


def env_int(name: str, default: int) -> int:
    text = (os.environ.get(name) or "").strip()
    return int(text) if text else default


def env_seconds(name: str, default: float) -> float:
    """A duration in seconds (`2`, `0.5`); unset or empty is the default."""
    text = (os.environ.get(name) or "").strip()
    return float(text) if text else default


def database_url(url: str | None) -> str:
    """Normalise a DATABASE_URL: default SQLite file, psycopg 3 for PostgreSQL."""
    if not url:
        return f"sqlite:///{ROOT / 'instance' / 'store.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    """Development and default settings; production overrides in ProductionConfig."""

    ENV_NAME = "development"
    # An empty SECRET_KEY= (a copied .env template) counts as unset.
    SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET_KEY
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SQLALCHEMY_RECORD_QUERIES = False
    # How long the store waits on its database before giving up with a clear
    # 503 page (app/database.py sets them on every connection), so one held
    # lock or a database that stops answering costs seconds, never a gunicorn
    # thread each until it clears. PostgreSQL applies the lock timeout to each
    # lock a statement waits for: a checkout waits at most about twice it.
    DATABASE_CONNECT_TIMEOUT = env_seconds("DATABASE_CONNECT_TIMEOUT", 3)
    DATABASE_LOCK_TIMEOUT = env_seconds("DATABASE_LOCK_TIMEOUT", 1)
    DATABASE_STATEMENT_TIMEOUT = env_seconds("DATABASE_STATEMENT_TIMEOUT", 5)
    DATABASE_IDLE_IN_TRANSACTION_TIMEOUT = env_seconds(
        "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", 15
    )
    DATABASE_POOL_TIMEOUT = env_seconds("DATABASE_POOL_TIMEOUT", 3)
    # SQLite: how long a writer queues for the one write lock.
    DATABASE_BUSY_TIMEOUT = env_seconds("DATABASE_BUSY_TIMEOUT", 3)
    # POSTs one process serves at once (0: any number; gunicorn.conf.py sets
    # one less than its threads, so a thread is always free for reads), and
    # how long a POST waits for a turn before the 503 page (app/resilience.py).
    WRITE_SLOTS = env_int("WRITE_SLOTS", 0)
    WRITE_SLOT_WAIT = env_seconds("WRITE_SLOT_WAIT", 0.5)

    MAX_CONTENT_LENGTH = 12 * 1024 * 1024
    ITEMS_PER_PAGE = 24
    LOW_STOCK_THRESHOLD = 5  # the admin's "Low stock" tab: time to restock
    # Worked out at most this often and kept in the cache below (0: on every
    # request): each is the same for every visitor who asks for it.
    POPULAR_CACHE_SECONDS = 30  # the catalogue's "Popular" block
    ALSO_BOUGHT_CACHE_SECONDS = 60  # an item page's "also bought" block
    SEARCH_COUNT_CACHE_SECONDS = 60  # a search's "1,234 items"
    CATEGORY_COUNTS_CACHE_SECONDS = 60  # the catalogue's counts per category
    # The admin's order tabs: counting 500,000 orders by status takes ~100 ms;
    # an admin's own move forgets the counts at once.
    ORDER_COUNTS_CACHE_SECONDS = 10
    # Anonymous catalogue and item pages kept per process, keyed by the page
    # version the database bumps on every write they show (app/page_cache.py);
    # 0 draws every page afresh.
    PAGE_CACHE_ENTRIES = env_int("PAGE_CACHE_ENTRIES", 256)
    # Flask-Caching: each process's own memory by default; CACHE_TYPE=RedisCache
    # with CACHE_REDIS_URL shares one cache between every process and host.
    CACHE_TYPE = os.environ.get("CACHE_TYPE", "SimpleCache")
    CACHE_REDIS_URL = os.environ.get("CACHE_REDIS_URL")
    CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "store:")
    CACHE_THRESHOLD = 5000  # SimpleCache: entries kept before the oldest go
    # Seconds a Redis (the cache's and the limiter's) may take to connect and
    # to answer each command; after a failure the cache skips it for
    # REDIS_RETRY_SECONDS, and the limiter counts in memory meanwhile.
    REDIS_TIMEOUT = env_seconds("REDIS_TIMEOUT", 0.5)
    REDIS_RETRY_SECONDS = env_seconds("REDIS_RETRY_SECONDS", 30)

    # Flask-Compress: pages, feeds and JSON in brotli or gzip, whichever the
    # browser accepts (static files come compressed already: app/static_files.py).
    COMPRESS_ALGORITHM = ["br", "gzip"]
    COMPRESS_MIMETYPES = [
        "text/html",
        "text/xml",
        "text/plain",
        "application/xml",
        "application/json",
    ]

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Keeps this store's counters apart from anything else in a shared Redis.
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "store")
    RATELIMIT_HEADERS_ENABLED = True
    # Redis unreachable: count in each process's memory until it is back,
    # rather than answer every sign-in with a 500.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # One budget per client address for signing in, signing up and asking for
    # a password reset together (so sign-up cannot test emails faster than
    # sign-in), and one per account (the email typed, or the signed-in user)
    # whatever the address, against guesses spread over many addresses.
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    ACCOUNT_RATE_LIMIT = os.environ.get("ACCOUNT_RATE_LIMIT", "20 per hour")

    # Email (app/mail/). With MAIL_SERVER set, over SMTP; without it, each
    # email is written to MAIL_FILE_PATH as an .eml file and logged, so a
    # development store needs no mail server.
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = env_flag("MAIL_USE_TLS")  # STARTTLS, usually on port 587
    MAIL_USE_SSL = env_flag("MAIL_USE_SSL")  # TLS from the start, usually 465
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = (
        os.environ.get("MAIL_DEFAULT_SENDER") or "Corner Store <store@localhost>"
    )
    # Seconds a connection to the SMTP server, and each reply, may take.
    MAIL_TIMEOUT = env_int("MAIL_TIMEOUT", 10)
    MAIL_FILE_PATH = os.environ.get("MAIL_FILE_PATH") or str(ROOT / "instance" / "mail")
    # The store's own address, for the links in emails (never the Host header
    # of the request that caused them). Unset: https:// and the first of
    # TRUSTED_HOSTS in production, else http://127.0.0.1:5000.
    STORE_URL = os.environ.get("STORE_URL") or None

    # The outbox worker (`flask outbox run`).
    OUTBOX_BATCH_SIZE = env_int("OUTBOX_BATCH_SIZE", 20)
    OUTBOX_POLL_SECONDS = env_int("OUTBOX_POLL_SECONDS", 2)
    # A failed send waits OUTBOX_RETRY_SECONDS, then twice that, four times...
    # (at most OUTBOX_RETRY_MAX_SECONDS); after OUTBOX_MAX_ATTEMPTS tries the
    # email is `failed` and waits for an admin's retry.
    OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8)
    OUTBOX_RETRY_SECONDS = env_int("OUTBOX_RETRY_SECONDS", 30)
    OUTBOX_RETRY_MAX_SECONDS = env_int("OUTBOX_RETRY_MAX_SECONDS", 3600)
    # How long a worker holds an email it claimed; renewed before each send.
    # A worker that dies leaves its emails to the others once this passes.
    OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 120)
    # /healthz/ready reports the outbox `stale` when its most overdue email
    # has waited longer than this (no worker running, or one stuck).
    OUTBOX_STALE_SECONDS = env_int("OUTBOX_STALE_SECONDS", 600)
    # The worker also cancels unpaid orders past their window this often.
    ORDERS_EXPIRE_EVERY_SECONDS = env_int("ORDERS_EXPIRE_EVERY_SECONDS", 300)

    # How long the links in account emails work.
    PASSWORD_RESET_MINUTES = env_int("PASSWORD_RESET_MINUTES", 60)
    EMAIL_CHANGE_MINUTES = env_int("EMAIL_CHANGE_MINUTES", 24 * 60)

    # Flask answers 400 to a Host header outside this list (None: any host).
    TRUSTED_HOSTS = [
        h.strip() for h in os.environ.get("TRUSTED_HOSTS", "").split(",") if h.strip()
    ] or None
    # How many proxies (nginx, a load balancer) in front of gunicorn append to
    # X-Forwarded-For/-Proto. Login throttling counts per client address: with 0
    # those headers are ignored (a client cannot forge them), but behind a proxy
    # every visitor would share the proxy's address, and so one limit.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES") or 0)
    HSTS = False
    # Log lines: `text` (with each line's request id) or `json`, one object a line.
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")

    # How long an unpaid order holds its stock before `flask orders expire`
    # cancels it, per payment method.
    PAYMENT_WINDOWS = {
        "bank_transfer": timedelta(
            days=int(os.environ.get("BANK_TRANSFER_WINDOW_DAYS") or 7)
        ),
        # A card is paid at once or not at all: its stock is held for less.
        "card": timedelta(minutes=int(os.environ.get("CARD_WINDOW_MINUTES") or 60)),
    }

    # Card payments through Stripe (app/orders/stripe_card.py): offered when
    # STRIPE_SECRET_KEY is set. STRIPE_API_BASE and STRIPE_JS_URL point the
    # SDK and the card form's script at another server (the tests' local one);
    # without STRIPE_WEBHOOK_SECRET the webhook is a 404.
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY") or None
    STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY") or None
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET") or None
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE") or "https://api.stripe.com"
    STRIPE_JS_URL = os.environ.get("STRIPE_JS_URL") or "https://js.stripe.com/v3/"
    STRIPE_CURRENCY = os.environ.get("STRIPE_CURRENCY") or "usd"
    # Seconds a call to Stripe may take to connect and to answer, and the
    # SDK's retries: a hung provider costs the shopper seconds, not minutes.
    STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 5)
    STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 1)
    # How old a webhook's signed timestamp may be.
    STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    ORDERS_PER_PAGE = 50
    # Product pictures' files (app/media/storage.py), served from /media/.
    MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or str(ROOT / "instance" / "media")


class ProductionConfig(Config):
    """Behind HTTPS under gunicorn: secure cookies, HSTS, and a real SECRET_KEY required."""

    ENV_NAME = "production"
    # Flask takes DEBUG from FLASK_DEBUG (which a .env may set): never in production.
    DEBUG = False
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS = True
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")


class TestingConfig(Config):
    """The test suite: a throwaway in-memory SQLite database unless one is given."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key"
    # In memory unless a test server is given: importing this module (as wsgi.py
    # does in every worker and `flask` command) must not create files.
    SQLALCHEMY_DATABASE_URI = database_url(
        os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    )
    LOGIN_RATE_LIMIT = "1000 per minute"
    ACCOUNT_RATE_LIMIT = "1000 per minute"
    # Tests that send email start their own SMTP server and set MAIL_SERVER.
    MAIL_SERVER = None
    MAIL_FILE_PATH = str(Path(tempfile.gettempdir()) / "store-test-mail")
    MAIL_TIMEOUT = 5
    STORE_URL = "http://store.test"
    POPULAR_CACHE_SECONDS = 0  # every test sees the data it just wrote
    ALSO_BOUGHT_CACHE_SECONDS = 0
    SEARCH_COUNT_CACHE_SECONDS = 0
    CATEGORY_COUNTS_CACHE_SECONDS = 0
    ORDER_COUNTS_CACHE_SECONDS = 0
    # No card payments unless a test starts its local Stripe server.
    STRIPE_SECRET_KEY = None
    STRIPE_PUBLISHABLE_KEY = None
    STRIPE_WEBHOOK_SECRET = None
    STRIPE_TIMEOUT_SECONDS = 2
    STRIPE_MAX_NETWORK_RETRIES = 0

    # Tests that write pictures give each app a folder of its own.
    MEDIA_ROOT = str(Path(tempfile.gettempdir()) / "store-test-media")

    PAGE_CACHE_ENTRIES = 0  # tests that keep pages turn it on


def config_for_environment() -> type[Config]:
    """The configuration `wsgi.py` loads: STORE_ENV=production selects ProductionConfig."""
    return ProductionConfig if os.environ.get("STORE_ENV") == "production" else Config
