"""Gunicorn production settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

Sized from the machine: (2 x cores) + 1 worker processes, each with a few
threads, so slow clients and database waits do not idle a core. Every value
can be overridden from the environment (GUNICORN_WORKERS, ...).
"""

import multiprocessing
import os
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 5000))
max_requests_jitter = 500
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None  # "" turns it off
# The request id the store gave the request closes each line (X-Request-ID).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" %({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
raw_env = ["STORE_ENV=production"] if os.environ.get("STORE_ENV") is None else []
# Writes (POSTs) in each worker at once: one thread fewer than it has, so a
# thread is always free for reads while writes wait on a held lock.
if os.environ.get("WRITE_SLOTS") is None:
    raw_env.append(f"WRITE_SLOTS={max(1, threads - 1)}")


def _refuse_per_process_limits() -> None:
    """Production with several workers counts sign-in attempts in memory only
    when told to (RATELIMIT_PER_PROCESS=true): each worker would count for
    itself, so the limit of 10 a minute would be 10 per worker. Refused
    otherwise, before a single worker starts."""
    production = os.environ.get("STORE_ENV", "production") == "production"
    storage = os.environ.get("RATELIMIT_STORAGE_URI") or "memory://"
    if not (production and workers > 1 and storage.startswith("memory://")):
        return
    message = (
        f"The sign-in limit would be counted by each of the {workers} workers "
        "for itself (RATELIMIT_STORAGE_URI is memory://): set it to a Redis "
        "shared by every worker"
    )
    if (os.environ.get("RATELIMIT_PER_PROCESS") or "").lower() in ("1", "true"):
        print(f"WARNING: {message}. Counting per process, as asked.", flush=True)
        return
    raise SystemExit(
        f"Refusing to start: {message}, or RATELIMIT_PER_PROCESS=true to count "
        "per process knowingly (or GUNICORN_WORKERS=1)."
    )


_refuse_per_process_limits()
# Gunicorn 27's control socket lives at one path per user (~/.gunicorn), so two
# stores on one host would share it; the store is managed by signals instead.
control_socket_disable = True


# Prometheus metrics on a port of their own (METRICS_PORT; unset: none),
# bound to METRICS_BIND (loopback by default: a private address, never the
# public one). The workers write their counts to PROMETHEUS_MULTIPROC_DIR,
# set here before any worker imports prometheus-client, and the master's
# metrics server adds them up.
metrics_port = int(os.environ.get("METRICS_PORT") or 0)
if metrics_port and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="store-metrics-")


def when_ready(server):
    """Start the metrics server in the master, once, beside the workers."""
    if not metrics_port:
        return
    from prometheus_client import start_http_server

    from app.metrics import registry
    from config import database_url

    bind = os.environ.get("METRICS_BIND", "127.0.0.1")
    start_http_server(
        metrics_port,
        addr=bind,
        registry=registry(database_url(os.environ.get("DATABASE_URL"))),
    )
    server.log.info("Metrics on http://%s:%s/metrics", bind, metrics_port)


def child_exit(server, worker):
    """A worker that is gone no longer counts in the live gauges."""
    if metrics_port:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Once the app is loaded, move its objects (routes, templates, SQLAlchemy's
    mappings and caches) out of the garbage collector's sight: they live as long
    as the worker, and a full collection walking them all stalls a request for
    tens of milliseconds."""
    import gc

    gc.freeze()
