"""What operators see: a request id on every request, in every log line,
audit event and outbox row, on the response (`X-Request-ID`) and on the
500 page; JSON log lines in production; the metrics of app/metrics.py.

The id comes from the trusted proxy's `X-Request-ID` header when there is a
proxy (TRUSTED_PROXIES > 0) and the value looks like an id; otherwise the
store makes one. A client without a proxy cannot choose its id.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, current_app, g, has_app_context, request
from flask.wrappers import Response

from app import metrics

REQUEST_ID_HEADER = "X-Request-ID"
# nginx's $request_id (32 hex digits), a UUID, a load balancer's trace id.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,64}", re.ASCII)


def current_request_id() -> str | None:
    """This request's id; in a command (no request), one id for the command's
    app context; None outside any app."""
    if not has_app_context():
        return None
    if "request_id" not in g:
        g.request_id = uuid.uuid4().hex
    return g.request_id


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    _configure_logging(app)


def request_id_for(given: str, trusted_proxies: int) -> str:
    """The id a request is known by: the trusted proxy's, or a new one."""
    if trusted_proxies and REQUEST_ID_RE.fullmatch(given):
        return given
    return uuid.uuid4().hex


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_for(
        request.headers.get(REQUEST_ID_HEADER, ""),
        current_app.config.get("TRUSTED_PROXIES", 0),
    )


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = current_request_id() or ""
    started = g.get("request_started")
    if started is not None:
        metrics.observe_request(
            request.url_rule.rule if request.url_rule else "(unmatched)",
            request.method,
            response.status_code,
            time.perf_counter() - started,
        )
    return response


class RequestIdFilter(logging.Filter):
    """Put the request id on every log record (`-` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.request_id = current_request_id() or "-"
        except RuntimeError:  # a thread with no app at all
            record.request_id = "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, and
    the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def _configure_logging(app: Flask) -> None:
    """The store's log lines on stderr, with their request id: JSON with
    LOG_FORMAT=json (production's default), else text. Left alone when
    something (the test runner, an embedding server) set up logging already."""
    root = logging.getLogger()
    if any(getattr(h, "store_handler", False) for h in root.handlers):
        return
    if root.handlers or app.testing:
        for handler in root.handlers:
            if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
                handler.addFilter(RequestIdFilter())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.store_handler = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    if app.config.get("LOG_FORMAT") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Flask's own handler would print each line a second time, without the id.
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)
