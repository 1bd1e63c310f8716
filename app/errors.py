"""HTML error pages: 400, 403, 404, 405, 413, 429 and a plain 500."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db

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
}


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unhandled_error)


def render_error(code: int, message: str | None = None):
    title, default = MESSAGES.get(
        code, ("Error", "The request could not be completed.")
    )
    return render_template(
        "errors/error.html", code=code, title=title, message=message or default
    ), code


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
    from flask import current_app

    current_app.logger.exception("Unhandled error", exc_info=error)
    return render_error(InternalServerError.code)
