"""HTML error pages: 400, 403, 404, 405, 413, 429 and a plain 500."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, render_template
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from app.database import is_unavailable
from app.extensions import db
from app.observability import current_request_id
from app.resilience import Unavailable

MESSAGES = {
    400: (
        "Bad request",
        "The request could not be understood. Please check what you sent.",
    ),
    403: ("Forbidden", "You do not have permission to see this page."),
    404: (
        "Page not found",
        "We could not find that page. It may have moved or never existed.",
    ),
    405: ("Method not allowed", "This page cannot be used that way."),
    409: (
        "Conflict",
        "That could not be done because something changed. Please try again.",
    ),
    413: ("Upload too large", "That upload is larger than the store accepts."),
    429: (
        "Too many requests",
        "Too many attempts. Please wait a moment and try again.",
    ),
    500: (
        "Something went wrong",
        "Sorry, the store hit an error. Please try again shortly.",
    ),
    503: (
        "Temporarily unavailable",
        "The store could not finish this in time, so nothing was changed. "
        "Please try again in a moment.",
    ),
}
# Seconds a client is asked to wait after a 503 (the database busy or away).
RETRY_AFTER_UNAVAILABLE = 5


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unhandled_error)


# Drawn without the layout when the layout cannot be: a Host header outside
# TRUSTED_HOSTS leaves no URL adapter for url_for(), and a database that is down
# fails the nav's current_user of a signed-in visitor.
PLAIN_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} · Corner Store</title>
<link rel="stylesheet" href="/static/css/store.css"></head>
<body><main class="container">
<h1>{title}</h1><p class="muted">Error {code}</p><p>{message}</p>{reference}
<p><a href="/items/">Browse the catalogue</a></p>
</main></body>
</html>
"""


def render_error(code: int, message: str | None = None, plain: bool = False):
    """The error page of `code`; `plain` draws it without the layout (which
    may read the database, for the nav's signed-in user)."""
    title, default = MESSAGES.get(
        code, ("Error", "The request could not be completed.")
    )
    message = message or default
    # A store's fault (500, 503) names the request, for the visitor to quote
    # and an operator to find in the logs; nothing else about it.
    reference = current_request_id() if code >= 500 else None
    if not plain and has_request_context() and request_ctx.url_adapter is not None:
        try:
            return render_template(
                "errors/error.html",
                code=code,
                title=title,
                message=message,
                reference=reference,
            ), code
        except Exception:  # the page must still answer; the log says why
            current_app.logger.exception("Could not draw the %s page", code)
    page = PLAIN_PAGE.format(
        code=code,
        title=escape(title),
        message=escape(message),
        reference=(
            f'<p class="muted">Reference: <code>{escape(reference)}</code></p>'
            if reference
            else ""
        ),
    )
    return page, code


def _csrf_error(error: CSRFError):
    return render_error(
        400,
        "The form had expired or was not sent from this site. "
        "Please go back, reload the page and try again.",
    )


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    response = render_error(error.code)
    if error.code in (405, 429):
        # Keep Allow / Retry-After from the original exception.
        headers = error.get_response().headers
        body, code = response
        extra = {k: v for k, v in headers.items() if k in ("Allow", "Retry-After")}
        return body, code, extra
    return response


def _unhandled_error(error: Exception):
    """Log the traceback, roll back the session, and show a page that reveals nothing."""
    if isinstance(error, HTTPException):
        return _http_error(error)
    db.session.rollback()
    if isinstance(error, Unavailable) or is_unavailable(error):
        # A held lock, a database that does not answer, a full pool: the
        # timeouts ended the wait; say so, briefly, and ask for a retry.
        current_app.logger.warning("Database unavailable: %s", type(error).__name__)
        body, code = render_error(503, plain=True)
        return body, code, {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)}
    current_app.logger.exception("Unhandled error", exc_info=error)
    return render_error(InternalServerError.code)
