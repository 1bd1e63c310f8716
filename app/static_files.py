"""Static files: content-hashed URLs, served by WhiteNoise with a year's cache.

`url_for('static', filename='css/store.css')` gives
`/static/css/store.<hash>.css`, where the hash is the file's content: a new
stylesheet is a new URL, so the old one may be kept forever
(`Cache-Control: max-age=315360000, public, immutable`). The plain name
still answers, with a short cache, for anything that links to it directly.
WhiteNoise serves both in front of Flask, picking the `.br` or `.gz` copy
beside a file (written by `make static`) when the browser accepts it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask
from whitenoise import WhiteNoise

HASH_LENGTH = 12
# Copies WhiteNoise serves in place of a file; never linked themselves.
COMPRESSED_SUFFIXES = (".gz", ".br")
PLAIN_MAX_AGE = 3600  # seconds: a file asked for by its unversioned name


def hashed_name(filename: str, content: bytes) -> str:
    """`css/store.css` -> `css/store.3f9a0c1d2e4b.css` (a hash of the content)."""
    digest = hashlib.sha256(content).hexdigest()[:HASH_LENGTH]
    folder, _, name = filename.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    versioned = f"{stem}.{digest}.{suffix}" if dot and stem else f"{name}.{digest}"
    return f"{folder}/{versioned}" if folder else versioned


def build_manifest(root: Path) -> dict[str, str]:
    """Every static file's name (relative, with /) -> its hashed name."""
    manifest = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix not in COMPRESSED_SUFFIXES:
            filename = path.relative_to(root).as_posix()
            manifest[filename] = hashed_name(filename, path.read_bytes())
    return manifest


def init_app(app: Flask) -> None:
    root = Path(app.static_folder)
    prefix = (app.static_url_path or "/static").rstrip("/") + "/"
    manifest = build_manifest(root)
    app.extensions["static_manifest"] = manifest
    immutable = {prefix + hashed for hashed in manifest.values()}

    def add_headers(headers, path, url) -> None:
        headers["X-Content-Type-Options"] = "nosniff"

    server = WhiteNoise(
        app.wsgi_app,
        max_age=PLAIN_MAX_AGE,
        allow_all_origins=False,
        add_headers_function=add_headers,
        immutable_file_test=lambda path, url: url in immutable,
    )
    server.add_files(str(root), prefix=prefix)
    for filename, hashed in manifest.items():
        server.add_file_to_dictionary(prefix + hashed, str(root / filename))
    app.wsgi_app = server

    @app.url_defaults
    def _versioned_static(endpoint: str, values: dict) -> None:
        if endpoint == "static" and values.get("filename") in manifest:
            values["filename"] = manifest[values["filename"]]
