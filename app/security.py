"""Security headers on every response; HSTS in production; trusted proxies."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)


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
    if response.mimetype == "text/html" and request.endpoint != "static":
        # Pages show a user's cart and account: never keep them in shared caches.
        headers.setdefault("Cache-Control", "no-store")
    if current_app.config.get("HSTS"):
        headers.setdefault(
            "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
        )
    return response
