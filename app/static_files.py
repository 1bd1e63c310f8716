"""Static files: content-hashed URLs, served by WhiteNoise with a year's cache.

`url_for('static', filename='css/store.css')` gives
`/static/css/store.<hash>.css`, where the hash is the file's content: a new
stylesheet is a new URL, so the old one may be kept forever
(`Cache-Control: max-age=315360000, public, immutable`). The plain name
still answers, with a short cache, for anything that links to it directly.

At start-up each file is copied under its hashed name into
STATIC_BUILD_FOLDER (instance/static by default) with a brotli and a gzip
copy beside it, which WhiteNoise serves to browsers that accept them. The
names are content hashes, so a copy is never stale: a changed file gets a
new name, and the next start writes it (one process's half-written file is
never seen by another: each is written aside, then renamed into place).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from pathlib import Path

import brotli
from flask import Flask
from whitenoise import WhiteNoise

HASH_LENGTH = 12
PLAIN_MAX_AGE = 3600  # seconds: a file asked for by its unversioned name
# Already compressed: served as they are.
INCOMPRESSIBLE = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".woff", ".woff2"}


def hashed_name(filename: str, content: bytes) -> str:
    """`css/store.css` -> `css/store.3f9a0c1d2e4b.css` (a hash of the content)."""
    digest = hashlib.sha256(content).hexdigest()[:HASH_LENGTH]
    folder, _, name = filename.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    versioned = f"{stem}.{digest}.{suffix}" if dot and stem else f"{name}.{digest}"
    return f"{folder}/{versioned}" if folder else versioned


def _write_once(path: Path, data: bytes) -> None:
    """Write `path` unless it exists, atomically (aside, then renamed)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(aside, path)


def build(root: Path, build_folder: Path) -> dict[str, str]:
    """Copy every static file to its hashed name (with .br and .gz copies where
    they are smaller) under `build_folder`; returns name -> hashed name."""
    manifest = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        content = path.read_bytes()
        filename = path.relative_to(root).as_posix()
        hashed = hashed_name(filename, content)
        manifest[filename] = hashed
        target = build_folder / hashed
        _write_once(target, content)
        if path.suffix.lower() in INCOMPRESSIBLE:
            continue
        for suffix, compress in ((".br", _brotli), (".gz", _gzip)):
            copy = target.with_name(target.name + suffix)
            if not copy.exists():
                squeezed = compress(content)
                if len(squeezed) < len(content):
                    _write_once(copy, squeezed)
    return manifest


def _brotli(data: bytes) -> bytes:
    return brotli.compress(data, quality=11)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def init_app(app: Flask) -> None:
    root = Path(app.static_folder)
    build_folder = Path(
        app.config.get("STATIC_BUILD_FOLDER") or Path(app.instance_path) / "static"
    )
    prefix = (app.static_url_path or "/static").rstrip("/") + "/"
    manifest = build(root, build_folder)
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
    for hashed in manifest.values():
        server.add_file_to_dictionary(prefix + hashed, str(build_folder / hashed))
    app.wsgi_app = server

    @app.url_defaults
    def _versioned_static(endpoint: str, values: dict) -> None:
        if endpoint == "static" and values.get("filename") in manifest:
            values["filename"] = manifest[values["filename"]]
