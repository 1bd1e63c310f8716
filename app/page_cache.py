"""Anonymous pages drawn once per page version, never stale.

The catalogue and item pages look the same to every visitor who is not
signed in, has nothing in the cart and no message waiting. For them a page is
kept, in each process's memory, under the page version (migration 0014: a
number the database bumps in the same transaction as every write that changes
what these pages show: a checkout taking stock, an edit, an archive, an
import, a cancellation's restock) and the request's path and query string.
Reading the version is one primary-key range of a few rows, so a write in
any process, or in psql, is seen by the very next view in every process.

The version is read before the page's rows, so a page kept under a version
was drawn from rows at least that new.

A form on the page carries a CSRF token bound to the visitor's session:
the kept page holds a placeholder instead, and each view writes the
visitor's own token in (starting their session as the page always did), so
no visitor is ever given another's token. A visitor who sends none of the
store's cookies is given the visitor token instead (app/csrf.py): no
session begun, so their page is the same for all of them. The forms a kept
page shows a visitor post only to views that take it (`@csrf.visitor_form`:
adding to the cart); tests/test_page_cache.py checks every kept page's.

A kept page is answered from a `before_request` hook registered right after
the request id's (init_app): no limiter, no view, no session of the page's
own; the after-request hooks (headers, compression, metrics) run as for any
page. A visitor's catalogue page holds no form at all (the wishlist button is
a link to sign in), so it is the same bytes for everyone and sets no cookie.

A visitor who sends none of the store's cookies (a first visit, a crawler,
a link followed from elsewhere) is answered before Flask altogether:
`SharedPages` keeps the whole response Flask gave the last such visitor,
headers and (compressed) body, under the same version, and serves it after
the one statement that reads the version, with a fresh request id. A
session cookie, a remembered sign-in or a conditional request goes to Flask
as above.

Every kept page has an ETag (the code's build, the version, and for a page
with a form the visitor's token), so a browser that has the page asks with
If-None-Match and is answered 304 until something it shows changes.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request, session
from flask_wtf.csrf import generate_csrf
from werkzeug.http import parse_cookie

from app import metrics
from app.csrf import sends_remember_cookie, sends_store_cookies, visitor_token
from app.extensions import db
from app.observability import REQUEST_ID_HEADER, request_id_for

ROOT = Path(__file__).resolve().parent.parent
# Session keys an anonymous visitor's page does not depend on: the CSRF
# token's secret (written into the page per visitor), and Flask-Login's mark
# that a session holds no fresh sign-in.
NEUTRAL_SESSION_KEYS = frozenset({"csrf_token", "_fresh"})
CSRF_FIELD = "csrf_token"
VERSION = "SELECT sum(version) FROM page_versions"
# Set on the WSGI environ by a kept page drawn for a visitor without cookies:
# (version, URL rule).
SHAREABLE = "store.shareable_page"


def _build() -> str:
    """Changes whenever the code or the templates do, so a new release never
    answers 304 with a page the old one drew."""
    digest = hashlib.blake2b(digest_size=8)
    for folder, pattern in (("app", "*.py"), ("templates", "*.html")):
        for path in sorted((ROOT / folder).rglob(pattern)):
            digest.update(path.read_bytes())
    return digest.hexdigest()


BUILD = _build()
# What a kept page holds where the visitor's CSRF token goes: random per
# process, so no page text can forge it.
PLACEHOLDER = "csrf-placeholder-" + secrets.token_hex(16)


class Pages:
    """A bounded, thread-safe map of (version, path) to drawn pages. A newer
    version empties it: pages of older versions can never be served again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: OrderedDict[str, tuple] = OrderedDict()
        self._version = -1

    def holds(self, path: str) -> bool:
        """Whether a page is kept for `path` (under the newest version seen)."""
        return path in self._pages

    def get(self, version: int, path: str) -> tuple | None:
        with self._lock:
            if version != self._version:
                return None
            page = self._pages.get(path)
            if page is not None:
                self._pages.move_to_end(path)
            return page

    def put(self, version: int, path: str, page: tuple, most: int) -> None:
        with self._lock:
            if version < self._version:
                return  # drawn while a newer version was already being served
            if version > self._version:
                self._pages.clear()
                self._version = version
            self._pages[path] = page
            while len(self._pages) > most:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._version = -1


class KeptPages(Pages):
    """The app's kept pages, and the small engine the version is read on
    (version_engine), made on first use."""

    def __init__(self) -> None:
        super().__init__()
        self.engine: sa.Engine | None = None

    def version_engine(self, url: sa.URL, options: dict) -> sa.Engine:
        with self._lock:
            if self.engine is None:
                self.engine = sa.create_engine(url, **options)
            return self.engine

    def dispose(self) -> None:
        """Close the version engine's connections (before its database goes)."""
        if self.engine is not None:
            self.engine.dispose()


def pages_of(app) -> KeptPages:
    """The app's kept pages (one app per process in production; each app of
    the test suite keeps its own)."""
    return app.extensions.setdefault("page_cache", KeptPages())


def init_app(app: Flask) -> None:
    """Answer kept pages first: registered before the limiter's hook, and in
    front of Flask (inside the proxy fix and the static files, which wrap the
    WSGI app after this) for visitors without cookies."""
    app.before_request(_serve_kept)
    app.wsgi_app = SharedPages(app, app.wsgi_app)  # type: ignore[method-assign]


def dispose(app: Flask) -> None:
    pages_of(app).dispose()


def version_engine() -> sa.Engine | None:
    """An engine of the app's database for the version alone: autocommit, no
    ping on checkout and no rollback on return, so a read is one round trip.
    None for an in-memory SQLite database (a second engine would not see it)."""
    pages = pages_of(current_app)
    if pages.engine is not None:
        return pages.engine
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    options = dict(current_app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    options.update(
        pool_pre_ping=False, pool_reset_on_return=None, isolation_level="AUTOCOMMIT"
    )
    return pages.version_engine(url, options)


def page_version() -> int:
    """The database's page version (see migration 0014): one statement on the
    version engine. A connection that broke (the server restarted) is
    dropped, and the read is made again on the app's own engine, whose errors
    the error pages know (a 503)."""
    engine = version_engine()
    if engine is not None:
        try:
            return _read_version(engine)
        except sa.exc.DBAPIError:
            pass
    return _read_version(db.engine)


def _read_version(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(VERSION).scalar() or 0)


def page_key() -> str:
    """Where a kept page is kept: the scheme and host too (a page may carry
    absolute links: its canonical URL), the path and the query string."""
    return f"{request.scheme}://{request.host}{request.full_path}"


def _serve_kept() -> Response | None:
    """Before the limiter and the view: this visitor's kept page, if there is
    one for the current version. The version read here is the one the view
    then draws under (g.page_version), so a miss reads it once."""
    if current_app.config["PAGE_CACHE_ENTRIES"] <= 0:
        return None
    view = current_app.view_functions.get(request.endpoint)
    if not getattr(view, "keeps_pages", False) or not _anonymous_and_neutral():
        return None
    version = g.page_version = page_version()
    kept = pages_of(current_app).get(version, page_key())
    if kept is None:
        return None
    return _answer(kept[0], kept[1], version)


def _anonymous_and_neutral() -> bool:
    """No signed-in user, nothing in the session a page shows (cart, messages)."""
    if request.method not in ("GET", "HEAD"):
        return False
    if sends_remember_cookie():
        return False
    return set(session.keys()) <= NEUTRAL_SESSION_KEYS


def _shown_session() -> dict:
    """What the session holds besides the neutral keys: a view that changes it
    (a flash, a cart) drew a page for this visitor only. Flask-Login marking a
    session not fresh, or the CSRF secret, does not count."""
    return {k: v for k, v in session.items() if k not in NEUTRAL_SESSION_KEYS}


def _etag(version: int, with_form: bool) -> str:
    tag = f"{BUILD}-{version}"
    if with_form:  # the visitor's own token is on the page
        raw = str(session.get(CSRF_FIELD, ""))
        tag += "-" + hashlib.blake2b(raw.encode(), digest_size=6).hexdigest()
    return tag


def _answer(body: str, with_form: bool, version: int) -> Response:
    cookieless = not sends_store_cookies(request.cookies.keys(), current_app.config)
    if with_form:
        g.pop(CSRF_FIELD, None)
        # A visitor without cookies gets the visitor token (app/csrf.py):
        # no session begun, so the page is the same for all of them.
        body = body.replace(
            PLACEHOLDER, visitor_token() if cookieless else generate_csrf()
        )
    if cookieless:  # the same bytes for every such visitor: SharedPages keeps it
        request.environ[SHAREABLE] = (version, request.url_rule.rule)
    response = Response(body, mimetype="text/html")
    response.set_etag(_etag(version, with_form))
    # Kept by the browser, asked again each time (If-None-Match): a private
    # cache only, since a page with a form holds the visitor's token.
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response.make_conditional(request)


def anonymous_cached(view: Callable) -> Callable:
    """Serve an anonymous visitor the page drawn for this version, or draw it."""

    @wraps(view)
    def cached_view(*args, **kwargs):
        most = current_app.config["PAGE_CACHE_ENTRIES"]
        if most <= 0 or not _anonymous_and_neutral():
            return view(*args, **kwargs)
        # _serve_kept read the version (before any of the page's rows) and
        # found no page kept under it: this view draws one.
        version = g.pop("page_version")
        path = page_key()
        if CSRF_FIELD in g:  # a token drawn already would be kept for everyone
            return view(*args, **kwargs)
        g.csrf_token = PLACEHOLDER  # forms draw the placeholder
        before = _shown_session()
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:  # an error page draws its own token, if any
            g.pop(CSRF_FIELD, None)
            raise
        body = response.get_data(as_text=True)
        with_form = PLACEHOLDER in body
        if (
            response.status_code != 200
            or response.mimetype != "text/html"
            or _shown_session() != before
            or "Set-Cookie" in response.headers
        ):
            g.pop(CSRF_FIELD, None)
            if with_form:  # not kept: the visitor's own token, drawn now
                response.set_data(body.replace(PLACEHOLDER, generate_csrf()))
            return response
        pages_of(current_app).put(version, path, (body, with_form), most)
        return _answer(body, with_form, version)

    cached_view.keeps_pages = True
    return cached_view


class SharedPages:
    """WSGI middleware: the kept pages, whole (status, headers
    and body, as Flask's hooks left them), for visitors who send no cookie of
    the store's. Keyed by the version, the URL and the Accept-Encoding (the
    body is compressed for it), so what one such visitor was sent is what
    Flask would send the next; read the version first, as every kept page
    is. Anything else goes to Flask."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.responses = Pages()

    def __call__(self, environ: dict, start_response: Callable):
        most = self.app.config["PAGE_CACHE_ENTRIES"]
        if most <= 0 or not self._may_share(environ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        key = self._key(environ)
        engine = pages_of(self.app).engine
        if engine is not None and self.responses.holds(key):
            try:
                version = _read_version(engine)
            except sa.exc.DBAPIError:
                version = None  # Flask reads it again, and answers the error
            kept = None if version is None else self.responses.get(version, key)
            if kept is not None:
                return self._serve(kept, environ, start_response, started)
        return self._draw(key, most, environ, start_response)

    def _may_share(self, environ: dict) -> bool:
        """A plain GET with none of the store's cookies: no session, no
        remembered sign-in, nothing to revalidate."""
        if environ.get("REQUEST_METHOD") != "GET":
            return False
        if "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ:
            return False
        header = environ.get("HTTP_COOKIE")
        return not header or not sends_store_cookies(
            parse_cookie(header).keys(), self.app.config
        )

    @staticmethod
    def _key(environ: dict) -> str:
        return "\n".join(
            (
                environ.get("wsgi.url_scheme", "http"),
                environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""),
                environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
                environ.get("QUERY_STRING", ""),
                environ.get("HTTP_ACCEPT_ENCODING", ""),
            )
        )

    def _serve(self, kept: tuple, environ: dict, start_response, started: float):
        status, headers, body, rule = kept
        request_id = request_id_for(
            environ.get("HTTP_X_REQUEST_ID", ""), self.app.config["TRUSTED_PROXIES"]
        )
        start_response(status, [*headers, (REQUEST_ID_HEADER, request_id)])
        metrics.observe_request(rule, "GET", 200, time.perf_counter() - started)
        return [body]

    def _draw(self, key: str, most: int, environ: dict, start_response):
        """Flask answers; a shareable 200 without a cookie set is kept."""
        seen: list = []

        def catch(status: str, headers: list, exc_info=None):
            seen[:] = [status, headers]
            return start_response(status, headers, exc_info)

        answer = self.wsgi_app(environ, catch)
        shareable = environ.get(SHAREABLE)
        if shareable is None or not seen or not seen[0].startswith("200 "):
            return answer
        status, headers = seen
        if any(name.lower() == "set-cookie" for name, _ in headers):
            return answer
        try:
            body = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        version, rule = shareable
        kept = [(n, v) for n, v in headers if n.lower() != REQUEST_ID_HEADER.lower()]
        self.responses.put(version, key, (status, kept, body, rule), most)
        return [body]
