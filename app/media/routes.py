"""Serving media files: /media/<key>, cached by browsers for a year.

A key's name is the hash of its content, so a file under a key never
changes: `immutable` is safe, and a new picture gets a new URL.
"""

from __future__ import annotations

from flask import abort, g, send_file, url_for

from app.media import bp
from app.media.storage import storage

YEAR = 31_536_000


@bp.get("/<key>")
def serve(key: str):
    """One stored file (a resized copy; never an uploaded original)."""
    path = storage().path(key)
    if path is None:
        abort(404)
    mimetype = "image/webp" if key.endswith(".webp") else "image/jpeg"
    response = send_file(path, mimetype=mimetype, conditional=True, etag=True)
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response


@bp.app_template_global()
def media_srcset(key: str, widths: str, ext: str) -> str:
    """`srcset` of one image's copies in one format: "/media/k-160.webp 160w, …"."""
    prefix = _prefix()
    return ", ".join(f"{prefix}{key}-{w}.{ext} {w}w" for w in widths.split())


@bp.app_template_global()
def media_src(key: str, widths: str, wanted: int) -> str:
    """The JPEG copy nearest above `wanted` pixels wide (else the largest)."""
    available = [int(w) for w in widths.split()]
    width = next((w for w in available if w >= wanted), available[-1])
    return f"{_prefix()}{key}-{width}.jpg"


def _prefix() -> str:
    """/media/ under whatever root the app is mounted at: built once per app
    context, which each request has its own of (a page draws a srcset for
    each picture, two formats each)."""
    prefix = g.get("media_prefix")
    if prefix is None:
        prefix = g.media_prefix = url_for("media.serve", key="-")[:-1]
    return prefix
