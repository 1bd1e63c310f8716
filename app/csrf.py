"""CSRF protection, with one token for visitors who send no cookies.

Every POST is checked by Flask-WTF against the token kept in the visitor's
session. A page's form can only carry that token if the visitor has a
session, and starting one means a `Set-Cookie` on the page: so the item page
(its add-to-cart form) could never be one response shared by every new
visitor (app/page_cache.SharedPages).

A visitor who sends none of the store's cookies (no session, no remembered
sign-in) has nothing a forged request could act on. Their page carries the
*visitor token* instead: signed with the app's secret under a salt of its
own, the same for every such visitor, and accepted only

* by the views marked `@csrf.visitor_form` (adding to the cart: the worst a
  forged one can do is start a cart, with one item, for someone who had
  none), never by signing in, signing up or anything else;
* from a request that again sends none of the store's cookies: a visitor
  who has a session is checked against their own token, as always.

The HTTPS referrer check (WTF_CSRF_SSL_STRICT) applies to it as to any
token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

from flask import Flask, current_app, g, request
from flask_wtf.csrf import CSRFProtect, same_origin
from itsdangerous import BadData, URLSafeSerializer

VISITOR_SALT = "store-visitor-form"
VISITOR_VALUE = "visitor"


def remember_cookie_name(config) -> str:
    """Flask-Login's remembered sign-in cookie (its default name unless set)."""
    return config.get("REMEMBER_COOKIE_NAME", "remember_token")


def sends_remember_cookie() -> bool:
    """Whether this request carries a remembered sign-in."""
    return remember_cookie_name(current_app.config) in request.cookies


def store_cookie_names(config) -> frozenset[str]:
    """The cookies that make a request someone's: the session, the remembered
    sign-in."""
    return frozenset((config["SESSION_COOKIE_NAME"], remember_cookie_name(config)))


def sends_store_cookies(names: Iterable[str], config) -> bool:
    return not store_cookie_names(config).isdisjoint(names)


def _serializer(app: Flask) -> URLSafeSerializer:
    secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    return URLSafeSerializer(secret, salt=VISITOR_SALT)


def visitor_token() -> str:
    """The token a cookie-less visitor's form carries (the same for all)."""
    return str(_serializer(current_app).dumps(VISITOR_VALUE))


def _is_visitor_token(data: str | None) -> bool:
    if not data:
        return False
    try:
        value = _serializer(current_app).loads(data)
    except BadData:
        return False
    return isinstance(value, str) and hmac.compare_digest(value, VISITOR_VALUE)


class StoreCSRF(CSRFProtect):
    """Flask-WTF's CSRFProtect, which also takes the visitor token where a
    view allows it (see the module's docstring)."""

    def __init__(self, app: Flask | None = None) -> None:
        self._visitor_views: set[str] = set()
        super().__init__(app)

    def visitor_form(self, view: Callable) -> Callable:
        """Mark a view whose form a cookie-less visitor may post with the
        visitor token."""
        self._visitor_views.add(_view_name(view))
        return view

    def takes_visitor_token(self, view: Callable) -> bool:
        """Whether `view` was marked with `visitor_form`."""
        return _view_name(view) in self._visitor_views

    def protect(self, apply_exemptions=False):
        if (
            request.method in current_app.config["WTF_CSRF_METHODS"]
            and self._takes_visitor_token()
            and _is_visitor_token(self._get_csrf_token())
        ):
            if request.is_secure and current_app.config["WTF_CSRF_SSL_STRICT"]:
                if not request.referrer:
                    self._error_response("The referrer header is missing.")
                if not same_origin(request.referrer, f"https://{request.host}/"):
                    self._error_response("The referrer does not match the host.")
            g.csrf_valid = True
            return None
        return super().protect(apply_exemptions)

    def _takes_visitor_token(self) -> bool:
        view = current_app.view_functions.get(request.endpoint or "")
        if view is None:
            return False
        return self.takes_visitor_token(view) and not sends_store_cookies(
            request.cookies.keys(), current_app.config
        )


def _view_name(view: Callable) -> str:
    """How Flask-WTF names a view (its exempt views are kept the same way)."""
    return f"{view.__module__}.{view.__name__}"
