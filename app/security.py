"""Security headers on every response; HSTS in production; trusted proxies."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)
# Pages that show nothing of one visitor's own (beyond the header's name and
# cart count): the browser may keep them, for the back/forward cache, but must
# ask again before reusing one. Every other page (the cart, checkout, orders,
# the account, every admin page, the emailed links) is never stored. Admins
# see buyers on item pages, so for them every page is private.
PUBLIC_ENDPOINTS = frozenset(
    {
        "items.index",
        "items.detail",
        "pages.show",
        "users.login",
        "users.register",
        "users.forgot_password",
    }
)
PUBLIC_CACHE_CONTROL = "private, no-cache"
PRIVATE_CACHE_CONTROL = "no-store"


def card_step_csp(script_origin: str, api_origin: str) -> str:
    """The card step's policy: the store's own, plus exactly what Stripe's
    script needs (loading it, its frames, and its calls to Stripe's API)."""
    return (
        f"default-src 'self'; script-src 'self' {script_origin}; style-src 'self'; "
        f"img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self' {script_origin} {api_origin}; "
        f"frame-src {script_origin}; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; object-src 'none'"
    )


def init_app(app: Flask) -> None:
    app.after_request(_set_headers)
    if hops := app.config.get("TRUSTED_PROXIES", 0):
        # The client's address and scheme as the trusted proxies saw them; any
        # further X-Forwarded-For entries came from the client and are ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def _set_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if (
        "Cache-Control" not in headers
        and response.mimetype == "text/html"
        and request.endpoint != "static"
    ):
        headers["Cache-Control"] = cache_control_for_page(response)
    if current_app.config.get("HSTS"):
        headers.setdefault(
            "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
        )
    return response


def cache_control_for_page(response: Response) -> str:
    """`private, no-cache` for a public page a shopper may go back to;
    `no-store` for everything private (see PUBLIC_ENDPOINTS)."""
    public = (
        request.endpoint in PUBLIC_ENDPOINTS
        and request.method in ("GET", "HEAD")
        and response.status_code < 400
        and not (current_user.is_authenticated and current_user.is_admin)
    )
    return PUBLIC_CACHE_CONTROL if public else PRIVATE_CACHE_CONTROL
