"""What operators see (SECURITY 47): a request id on every request, in the
log lines, audit events and outbox rows it writes and on the 500 page; JSON
log lines; the health checks split into liveness and readiness; Prometheus
metrics on a port of their own, never on the public app.
"""

from __future__ import annotations

import io
import json
import logging
import re
import urllib.request

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Item, OutboxMessage
from app.observability import JsonFormatter, RequestIdFilter
from tests.helpers import (
    GOOD_ITEM,
    assert_plain_error_page,
    client_for,
    free_port,
    post_form,
    queue_emails,
)

HEX_ID = re.compile(r"[0-9a-f]{32}")


def test_every_response_carries_a_request_id_of_its_own(client):
    ids = {client.get(url).headers["X-Request-ID"] for url in ("/items/",) * 3}
    assert len(ids) == 3 and all(HEX_ID.fullmatch(i) for i in ids)
    assert HEX_ID.fullmatch(client.get("/no-such-page").headers["X-Request-ID"])


def test_a_request_id_from_the_client_is_ignored_without_a_trusted_proxy(client):
    sent = "client-chosen-id-123"
    response = client.get("/items/", headers={"X-Request-ID": sent})
    assert response.headers["X-Request-ID"] != sent


@pytest.mark.parametrize(
    "sent, kept",
    [("nginx-0123456789abcdef", True), ("bad id <script>", False),
     ("x" * 65, False), ("short", False)],
)  # fmt: skip
def test_a_trusted_proxys_request_id_is_kept_when_it_looks_like_one(
    make_app, sent, kept
):
    client = make_app(TRUSTED_PROXIES=1).test_client()
    got = client.get("/items/", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    assert (got == sent) is kept, got
    if not kept:
        assert HEX_ID.fullmatch(got)


def test_the_audit_event_and_the_email_a_request_writes_carry_its_id(
    app, client, admin, make_user
):
    response = post_form(client, "/items/new", GOOD_ITEM)
    assert response.status_code == 302
    rid = response.headers["X-Request-ID"]
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent)).one()
        assert event.request_id == rid
    make_user("Sam", "sam@example.com")
    forgot = post_form(
        app.test_client(), "/users/password/forgot", {"email": "sam@example.com"}
    )
    with app.app_context():
        email = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "password_reset")
        ).one()
        assert email.request_id == forgot.headers["X-Request-ID"]


def test_a_command_gives_its_rows_one_id(app):
    ids = queue_emails(app, 2)
    with app.app_context():
        found = set(
            db.session.scalars(
                sa.select(OutboxMessage.request_id).where(OutboxMessage.id.in_(ids))
            )
        )
    assert len(found) == 1 and None not in found


def test_the_500_page_shows_its_request_id_and_the_log_names_it(make_app, caplog):
    failing = make_app()

    @failing.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    response = failing.test_client().get("/boom")
    html = assert_plain_error_page(response, 500)
    rid = response.headers["X-Request-ID"]
    assert f"Reference: <code>{rid}</code>" in html
    assert "secret detail" not in html
    logged = [r for r in caplog.records if r.getMessage() == "Unhandled error"]
    assert logged and logged[0].request_id == rid


def test_json_log_lines_carry_the_request_id(app):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("store-test-json")
    logger.addHandler(handler)
    try:
        with app.test_request_context("/items/"):
            app.preprocess_request()
            logger.warning('a line with "quotes"\nand a break')
            from flask import g

            rid = g.request_id
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["request_id"] == rid and first["level"] == "WARNING"
    assert first["message"] == 'a line with "quotes"\nand a break'
    assert second["request_id"] == "-"


def test_production_logs_json_by_default():
    from config import Config, ProductionConfig

    assert ProductionConfig.LOG_FORMAT == "json"
    assert Config.LOG_FORMAT == "text"


# --- health: liveness and readiness ------------------------------------------------


def test_healthz_is_unchanged_and_the_split_sits_beside_it(client):
    assert client.get("/healthz").json == {"status": "ok", "database": "up"}
    assert client.get("/healthz/live").json == {"status": "ok"}
    ready = client.get("/healthz/ready")
    assert ready.status_code == 200
    assert ready.json == {
        "status": "ok",
        "database": "up",
        "cache": "unused",
        "limiter": "unused",
        "outbox": "ok",
        "outbox_overdue_seconds": 0,
    }


def test_readiness_reports_an_outbox_no_worker_has_emptied(app, make_app):
    ids = queue_emails(app, 3)
    with app.app_context():
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(next_attempt_at=sa.func.datetime("now", "-2 hours"))
            if db.engine.dialect.name == "sqlite"
            else sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(next_attempt_at=sa.text("now() - interval '2 hours'"))
        )
        db.session.commit()
    ready = make_app(OUTBOX_STALE_SECONDS=600).test_client().get("/healthz/ready")
    assert ready.status_code == 200  # the store serves; email waits
    assert ready.json["outbox"] == "stale"
    assert ready.json["outbox_overdue_seconds"] >= 7000


# --- metrics ------------------------------------------------------------------------


def test_metrics_are_not_on_the_public_app(client, admin):
    for path in ("/metrics", "/metrics/", "/_metrics", "/prometheus"):
        assert client.get(path).status_code == 404, path


def test_the_metrics_server_counts_requests_orders_and_the_outbox(app, store, tmp_path):
    """The metrics server as gunicorn runs it (a port of its own, the
    workers' counts added up): requests by route and status, latency, an
    order placed, stock-outs and the outbox's backlog; the public port has
    no /metrics."""
    from tests.test_production_server import NO_CONTROL_SOCKET, gunicorn_store
    from tests.test_production_server import _prepare_buyer as prepare

    queue_emails(app, 2)
    port = free_port()
    with gunicorn_store(
        app.config["SQLALCHEMY_DATABASE_URI"],
        tmp_path,
        workers=2,
        threads=2,
        extra_args=NO_CONTROL_SOCKET,
        METRICS_PORT=str(port),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    ) as server:
        browser, form = prepare(server, "sam@example.com", store["lamp"])
        assert browser.post("/purchases/checkout", form).status == 302
        for _ in range(3):
            assert server.browser().get("/items/").status == 200
        assert server.browser().get("/metrics").status == 404
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as reply:
            text = reply.read().decode()
    assert re.search(
        r'store_http_requests_total\{method="GET",route="/items/",status="200"\} '
        r"([3-9]|\d\d)",
        text,
    ), text[:3000]
    assert 'store_http_request_seconds_bucket{le="0.5",route="/items/"}' in text
    assert 'store_orders_placed_total{payment_method="bank_transfer"} 1.0' in text
    # Payment failures are counted by the payment code; by label, so they
    # show once one is counted.
    from app import metrics

    assert metrics.PAYMENT_FAILURES._labelnames == ("provider", "reason")
    assert "store_stock_outs_total" in text
    assert re.search(r"^store_outbox_backlog 3\.0$", text, re.M), text[-2000:]


def test_stock_outs_are_counted(app, client, shopper, make_item):
    from app import metrics
    from tests.helpers import add_to_cart, checkout_form, set_item

    before = metrics.STOCK_OUTS._value.get()
    lamp = make_item(name="Last Lamp", stock=1)
    add_to_cart(client, lamp, 1)
    form = checkout_form(client)
    set_item(app, lamp, stock=0)
    assert client.post("/purchases/checkout", data=form).status_code == 409
    assert metrics.STOCK_OUTS._value.get() == before + 1
    with app.app_context():
        assert db.session.get(Item, lamp).stock == 0


def test_signed_in_pages_get_an_id_too(app, store):
    client = client_for(app, "sam@example.com")
    assert HEX_ID.fullmatch(client.get("/purchases/").headers["X-Request-ID"])
