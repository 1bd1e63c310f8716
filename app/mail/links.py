"""Absolute links for emails, on the store's configured address.

Never from the request's Host header: a visitor who asks for a password
reset with `Host: evil.example` would otherwise have the victim's link
point at the attacker's site.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def store_url() -> str:
    """STORE_URL, or https:// and the first trusted host in production, or
    the development server's address."""
    config = current_app.config
    if config.get("STORE_URL"):
        return config["STORE_URL"].rstrip("/")
    hosts = config.get("TRUSTED_HOSTS") or []
    host = next((h.lstrip(".") for h in hosts if h.lstrip(".")), None)
    if host:
        scheme = "https" if config.get("ENV_NAME") == "production" else "http"
        return f"{scheme}://{host}"
    return "http://127.0.0.1:5000"


def absolute_url(endpoint: str, **values) -> str:
    """The URL of `endpoint` on the store's own address, request or none."""
    parts = urlsplit(store_url())
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
