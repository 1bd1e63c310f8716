"""The outbox and its worker, against a real SMTP server (aiosmtpd on a
loopback port): rows written in the causing transaction, one per dedupe key;
sending, retrying with back-off after a refusal, failing for good with the
error kept, never sending a row twice, two workers racing, a worker killed
mid-batch, and the .eml files of a store with no mail server.
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import signal
import smtplib
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.mail import outbox
from app.models import OutboxMessage, utcnow
from app.orders import lifecycle
from tests.helpers import (
    FLASK,
    ROOT,
    SmtpServer,
    client_for,
    count,
    csrf_token_from,
    deliver,
    flask_process,
    free_port,
    html_of,
    order_row,
    outbox_rows,
    post_form,
    queue_emails,
    row_of,
    worker_env,
)


def statuses(app) -> list[str]:
    return [row.status for row in outbox_rows(app)]


# --- queueing ---------------------------------------------------------------------


def test_an_email_is_queued_in_the_callers_transaction(app):
    with app.app_context():
        assert outbox.queue(
            "order_paid", "a@example.com", "Paid", "text", dedupe_key="k1"
        )
        db.session.rollback()  # what caused it did not happen: neither does the email
    assert count(app, OutboxMessage) == 0
    with app.app_context():
        outbox.queue("order_paid", "a@example.com", "Paid", "text", dedupe_key="k1")
        db.session.commit()
    row = outbox_rows(app)[0]
    assert (row.status, row.attempts, row.sent_at) == ("pending", 0, None)


def test_one_dedupe_key_queues_one_email(app):
    with app.app_context():
        first = outbox.queue("order_paid", "a@example.com", "Paid", "1", dedupe_key="k")
        second = outbox.queue(
            "order_paid", "b@example.com", "Again", "2", dedupe_key="k"
        )
        db.session.commit()
    assert (first, second) == (True, False)
    assert [row.recipient for row in outbox_rows(app)] == ["a@example.com"]


@pytest.mark.parametrize(
    "address",
    [
        "a@example.com\r\nBcc: evil@example.com",
        "a@example.com, evil@example.com",
        "Evil <evil@example.com>",
        "a@example.com\nX: y",
        "no-at-sign",
        "",
    ],
)
def test_s43_an_address_that_is_not_one_plain_address_is_refused(app, address):
    with app.app_context(), pytest.raises(ValueError):
        outbox.queue("order_paid", address, "Paid", "text", dedupe_key="k")
    assert count(app, OutboxMessage) == 0


def test_s43_a_subject_is_one_line_whatever_it_is_given(app, mailer, smtp):
    with app.app_context():
        outbox.queue(
            "order_paid",
            "a@example.com",
            "Paid\r\nBcc: evil@example.com\r\n\r\nbody",
            "text",
            dedupe_key="k",
        )
        db.session.commit()
    assert deliver(mailer).sent == 1
    [received] = smtp.messages()
    assert received.rcpt_tos == ["a@example.com"]
    assert received.message["Bcc"] is None
    assert received.subject == "Paid Bcc: evil@example.com body"


# --- sending ----------------------------------------------------------------------


def test_the_worker_sends_each_email_over_smtp_and_marks_it_sent(app, mailer, smtp):
    queue_emails(app, 3)
    batch = deliver(mailer)
    assert (batch.sent, batch.retrying, batch.failed) == (3, 0, 0)
    received = smtp.messages()
    assert sorted(m.rcpt_tos[0] for m in received) == [
        f"buyer{i}@example.com" for i in range(3)
    ]
    first = next(m for m in received if m.rcpt_tos == ["buyer0@example.com"])
    assert first.subject == "Email 0"
    assert first.text.strip() == "Body 0"
    assert first.html.strip() == "<p>Body 0</p>"
    assert first.message["From"] == "Corner Store <store@localhost>"
    assert first.message["Message-ID"].endswith("@localhost>")
    for row in outbox_rows(app):
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
        assert row.sent_at is not None and row.claimed_by is None
    # Nothing is due any more: a second pass sends nothing again.
    assert deliver(mailer).claimed == 0
    assert len(smtp.messages()) == 3


def test_a_refused_send_waits_its_back_off_then_goes_once(app, mailer, smtp):
    [row_id] = queue_emails(app, 1)
    smtp.refuse(2, "451 4.3.0 Mailbox busy, try later")
    start = utcnow()

    assert deliver(mailer, now=start).retrying == 1
    row = row_of(app, OutboxMessage, row_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "451" in row.last_error and "Mailbox busy" in row.last_error
    assert row.next_attempt_at == start + timedelta(seconds=30)
    # Not due yet: nothing is tried before the back-off is over.
    assert deliver(mailer, now=start + timedelta(seconds=29)).claimed == 0

    assert deliver(mailer, now=start + timedelta(seconds=31)).retrying == 1
    row = row_of(app, OutboxMessage, row_id)
    assert row.attempts == 2
    assert row.next_attempt_at == start + timedelta(seconds=31 + 60)  # doubled

    assert deliver(mailer, now=start + timedelta(seconds=92)).sent == 1
    row = row_of(app, OutboxMessage, row_id)
    assert (row.status, row.attempts) == ("sent", 3)
    assert len(smtp.messages()) == 1


def test_back_off_doubles_up_to_its_cap(app):
    config = {"OUTBOX_RETRY_SECONDS": 30, "OUTBOX_RETRY_MAX_SECONDS": 3600}
    waits = [outbox.backoff(n, config).total_seconds() for n in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_the_last_try_ends_failed_with_the_error_kept(app, make_app, smtp):
    mailer = make_app(**smtp.settings(), OUTBOX_MAX_ATTEMPTS=2)
    [row_id] = queue_emails(app, 1)
    smtp.refuse(5)
    now = utcnow()
    assert deliver(mailer, now=now).retrying == 1
    assert deliver(mailer, now=now + timedelta(hours=1)).failed == 1
    row = row_of(app, OutboxMessage, row_id)
    assert (row.status, row.attempts) == ("failed", 2)
    assert "451" in row.last_error
    assert deliver(mailer, now=now + timedelta(days=1)).claimed == 0
    assert smtp.messages() == []


@pytest.mark.parametrize(
    "refusal", ["data", "recipient"], ids=["550-on-data", "550-on-recipient"]
)
def test_a_permanent_refusal_fails_at_once(app, mailer, smtp, refusal):
    [row_id] = queue_emails(app, 1)
    if refusal == "data":
        smtp.refuse(1, "554 5.7.1 Message rejected")
    else:
        smtp.refused_recipients["buyer0@example.com"] = "550 5.1.1 No such user"
    assert deliver(mailer).failed == 1
    row = row_of(app, OutboxMessage, row_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert ("554" if refusal == "data" else "550") in row.last_error


def test_an_admins_retry_of_a_failed_email_sends_it(app, mailer, smtp):
    [row_id] = queue_emails(app, 1)
    smtp.refuse(1, "554 5.7.1 Message rejected")
    deliver(mailer)
    with app.app_context():
        assert outbox.retry(row_id)
    row = row_of(app, OutboxMessage, row_id)
    assert (row.status, row.attempts) == ("pending", 0)
    assert deliver(mailer).sent == 1
    with app.app_context():
        assert not outbox.retry(row_id)  # sent: nothing to retry
    assert len(smtp.messages()) == 1


def test_a_mail_server_that_is_down_only_delays_email(app, make_app):
    down = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=_closed_port(), MAIL_TIMEOUT=2)
    [row_id] = queue_emails(app, 1)
    assert deliver(down).retrying == 1
    row = row_of(app, OutboxMessage, row_id)
    assert row.status == "pending"
    assert "refused the connection" in row.last_error


def test_a_mail_server_that_never_answers_times_out(app, make_app):
    """Accepts the connection, never says hello: MAIL_TIMEOUT cuts it off,
    once for the whole batch, and every email in it waits for its retry."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    try:
        mute = make_app(
            MAIL_SERVER="127.0.0.1", MAIL_PORT=silent.getsockname()[1], MAIL_TIMEOUT=1
        )
        queue_emails(app, 3)
        started = time.monotonic()
        assert deliver(mute).retrying == 3
        assert time.monotonic() - started < 2.5  # one timeout, not three
    finally:
        silent.close()
    for row in outbox_rows(app):
        assert (row.status, row.attempts) == ("pending", 1)
        assert "did not answer in time" in row.last_error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


def test_links_in_account_emails_are_removed_once_sent(app, mailer, smtp):
    with app.app_context():
        outbox.queue(
            "password_reset",
            "a@example.com",
            "Reset",
            "http://store.test/users/password/reset/secret-token",
            "<a href='http://store.test/users/password/reset/secret-token'>x</a>",
            dedupe_key="reset",
        )
        db.session.commit()
    assert deliver(mailer).sent == 1
    assert "secret-token" in smtp.messages()[0].text
    row = outbox_rows(app)[0]
    assert "secret-token" not in row.body_text + row.body_html


# --- never twice: claims, racing workers, a worker killed mid-batch ---------------


def test_racing_claims_take_each_row_once(app, make_app):
    """Eight workers claim three rows each at the same instant: eight full,
    disjoint batches, and the six rows left over unclaimed."""
    ids = queue_emails(app, 30)
    apps = [make_app() for _ in range(8)]
    barrier = threading.Barrier(len(apps))
    claimed: list[list[int] | BaseException] = [[] for _ in apps]
    lease = timedelta(minutes=2)

    def worker(index: int) -> None:
        with apps[index].app_context():
            try:
                barrier.wait(timeout=30)
                claimed[index] = outbox.claim(f"w{index}", utcnow(), 3, lease)
            except BaseException as error:  # reported below
                claimed[index] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(apps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    errors = [c for c in claimed if isinstance(c, BaseException)]
    assert not errors, errors
    assert [len(batch) for batch in claimed] == [3] * 8
    every = [row_id for batch in claimed for row_id in batch]
    assert len(set(every)) == 24  # no row in two batches
    rows = outbox_rows(app)
    assert sorted(row.id for row in rows if row.claimed_by) == sorted(every)
    assert sorted(row.attempts for row in rows) == [0] * 6 + [1] * 24
    assert len(ids) == 30


@pytest.mark.slow
def test_two_worker_processes_send_every_email_exactly_once(app, database_uri, smtp):
    ids = queue_emails(app, 40)
    env = worker_env(smtp, OUTBOX_BATCH_SIZE=4)
    workers = [
        flask_process(database_uri, "outbox", "run", "--once", **env) for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    received = smtp.messages()
    message_ids = [m.message["Message-ID"] for m in received]
    assert len(received) == len(ids) == len(set(message_ids))
    assert sorted(m.rcpt_tos[0] for m in received) == sorted(
        f"buyer{i}@example.com" for i in range(40)
    )
    assert set(statuses(app)) == {"sent"}
    assert {row.attempts for row in outbox_rows(app)} == {1}


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    app, database_uri, smtp
):
    """The worker dies while the server holds its third email: the two sent
    stay sent, the rest wait out the lease and go with the next worker."""
    queue_emails(app, 6)
    smtp.stall_after = 2
    # A lease long enough that the next worker starts well inside it, even on
    # a loaded machine (a worker process takes a second or two to start).
    env = worker_env(smtp, OUTBOX_LEASE_SECONDS=10, OUTBOX_BATCH_SIZE=10)
    victim = flask_process(database_uri, "outbox", "run", **env)
    try:
        deadline = time.monotonic() + 30
        while statuses(app).count("sent") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the third email is on the wire, unanswered
        assert statuses(app).count("sent") == 2
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    smtp.stall_after = None
    pending = [row for row in outbox_rows(app) if row.status == "pending"]
    assert len(pending) == 4 and all(row.claimed_by for row in pending)

    # Its lease still runs: another worker leaves those rows alone.
    hasty = flask_process(database_uri, "outbox", "run", "--once", **env)
    assert "0 sent" in hasty.communicate(timeout=60)[0]
    with app.app_context():
        lease_ends = db.session.scalar(
            sa.select(sa.func.max(OutboxMessage.claimed_until))
        )
    assert lease_ends > utcnow()  # the hasty worker really ran inside the lease
    while utcnow() <= lease_ends:
        time.sleep(0.2)
    heir = flask_process(database_uri, "outbox", "run", "--once", **env)
    output = heir.communicate(timeout=60)[0]
    assert heir.returncode == 0, output
    assert "4 sent" in output, output
    received = smtp.messages()
    assert sorted(m.rcpt_tos[0] for m in received) == [
        f"buyer{i}@example.com" for i in range(6)
    ]
    assert set(statuses(app)) == {"sent"}


@pytest.mark.slow
def test_the_long_running_worker_sends_as_emails_arrive_and_stops_on_sigterm(
    app, database_uri, smtp
):
    env = worker_env(smtp, OUTBOX_POLL_SECONDS=1)
    worker = flask_process(database_uri, "outbox", "run", **env)
    try:
        time.sleep(1)
        queue_emails(app, 2)
        deadline = time.monotonic() + 20
        while len(smtp.messages()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(smtp.messages()) == 2
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=15)[0]
    assert worker.returncode == 0, output
    assert "2 sent" in output
    assert set(statuses(app)) == {"sent"}


def test_flask_outbox_run_once_exits_0_when_a_send_failed(app, make_app, smtp):
    mailer = make_app(**smtp.settings())
    queue_emails(app, 2)
    smtp.refuse(1)
    result = mailer.test_cli_runner().invoke(args=["outbox", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 sent, 1 to retry later, 0 failed." in result.output
    assert sorted(statuses(app)) == ["pending", "sent"]


def test_the_worker_cancels_unpaid_orders_on_its_schedule(app, make_app, store):
    """The long-running worker also runs `flask orders expire`."""
    with app.app_context():
        db.session.add(
            order_row(
                store["sam"],
                "sam@example.com",
                1000,
                "old-unpaid",
                status="pending_payment",
                created_at=utcnow() - timedelta(days=30),
            )
        )
        db.session.commit()
    worker_app = make_app(OUTBOX_POLL_SECONDS=0)
    with worker_app.app_context():
        worker = outbox.Worker(
            expire_orders=lambda: lifecycle.expire(
                utcnow(), worker_app.config["PAYMENT_WINDOWS"]
            )
        )
        calls = []
        worker.run(once=False, echo=lambda text: (calls.append(text), worker.stop()))
    assert any("Cancelled 1 unpaid orders" in text for text in calls)
    assert [row.kind for row in outbox_rows(app)] == ["order_cancelled"]


# --- no mail server: .eml files -----------------------------------------------------


def test_without_a_mail_server_emails_are_eml_files_and_logged(
    app, make_app, tmp_path, caplog
):
    files = make_app(MAIL_SERVER=None, MAIL_FILE_PATH=str(tmp_path / "mail"))
    queue_emails(app, 1, subject="Your order ABC is placed")
    with caplog.at_level(logging.INFO, logger="app.mail"):
        assert deliver(files).sent == 1
    [path] = sorted((tmp_path / "mail").glob("*.eml"))
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Your order ABC is placed"
    assert parsed["To"] == "buyer0@example.com"
    assert parsed.get_body(("plain",)).get_content().strip() == "Body 0"
    assert any(str(path) in record.getMessage() for record in caplog.records)
    assert statuses(app) == ["sent"]


def test_mail_use_tls_reads_true_false_1_0(monkeypatch):
    from config import env_flag

    for text, value in (("true", True), ("1", True), ("false", False), ("0", False)):
        monkeypatch.setenv("MAIL_USE_TLS", text)
        assert env_flag("MAIL_USE_TLS") is value
    monkeypatch.setenv("MAIL_USE_TLS", "maybe")
    with pytest.raises(ValueError, match="MAIL_USE_TLS"):
        env_flag("MAIL_USE_TLS")


def test_the_outbox_rows_keep_their_claim_columns_consistent(app, mailer, smtp):
    """A sent row holds no claim; a claimed row names its worker and lease."""
    queue_emails(app, 2)
    with mailer.app_context():
        claimed = outbox.claim("w1", utcnow(), 1, timedelta(minutes=2))
        rows = db.session.execute(
            sa.select(OutboxMessage.id, OutboxMessage.claimed_by).order_by(
                OutboxMessage.id
            )
        ).all()
    assert len(claimed) == 1
    assert [tuple(row) for row in rows] == [(claimed[0], "w1"), (claimed[0] + 1, None)]


def test_smtp_server_fixture_is_real(smtp: SmtpServer):
    """The tests' server speaks SMTP on its port (not a stand-in)."""
    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=5) as client:
        client.sendmail(
            "a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nyo\r\n"
        )
    assert smtp.messages()[0].subject == "hi"


# --- the admin's outbox page -------------------------------------------------------


def test_admins_see_waiting_and_failed_emails_and_retry_one(app, mailer, smtp, store):
    ids = queue_emails(app, 3)
    smtp.refuse(1, "554 5.7.1 Message rejected")
    smtp.refuse(1, "451 4.3.0 Try again later")
    deliver(mailer)  # one failed, one waiting for its retry, one sent
    admin = client_for(app, "admin@example.com")
    waiting = html_of(admin.get("/mail/"))
    assert (
        "Waiting (1)" in waiting and "Failed (1)" in waiting and "Sent (1)" in waiting
    )
    assert "answered 451: 4.3.0 Try again later" in waiting
    failed = html_of(admin.get("/mail/?status=failed"))
    assert "answered 554: 5.7.1 Message rejected" in failed
    assert "Body" not in failed  # bodies are never shown
    [failed_row] = [row for row in outbox_rows(app) if row.status == "failed"]
    response = post_form(
        admin, f"/mail/{failed_row.id}/retry", page="/mail/?status=failed"
    )
    assert response.status_code == 302
    assert row_of(app, OutboxMessage, failed_row.id).status == "pending"
    assert deliver(mailer).sent == 1
    assert admin.get("/mail/?status=nonsense").status_code == 400
    assert len(ids) == 3


@pytest.mark.slow
def test_the_procfile_runs_the_store_and_its_worker_side_by_side(
    app, database_uri, store, tmp_path
):
    """What `make run` starts (honcho and the Procfile): the web server takes
    a reset request, and the worker beside it writes the email as an .eml file."""
    port = free_port()
    mail = tmp_path / "mail"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FLASK_APP", "STORE_ENV", "TEST_DATABASE_URL")
        and not k.startswith(("MAIL_", "OUTBOX_"))
    }
    env.update(
        DATABASE_URL=database_uri,
        MAIL_FILE_PATH=str(mail),
        STORE_URL=f"http://127.0.0.1:{port}",
        OUTBOX_POLL_SECONDS="1",
        PATH=f"{FLASK.parent}:{env.get('PATH', '')}",
    )
    honcho = subprocess.Popen(
        [str(FLASK.with_name("honcho")), "start", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        jar = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        page = jar.open(f"{base}/users/password/forgot", timeout=5).read().decode()
        form = {"csrf_token": csrf_token_from(page), "email": "sam@example.com"}
        jar.open(
            f"{base}/users/password/forgot",
            urllib.parse.urlencode(form).encode(),
            timeout=5,
        )
        while time.monotonic() < deadline and not list(mail.glob("*.eml")):
            time.sleep(0.2)
        [written] = list(mail.glob("*.eml"))
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        output = honcho.communicate(timeout=20)[0]
    text = written.read_text()
    assert "Subject: Reset your Corner Store password" in text
    assert f"{base}/users/password/reset/" in text
    assert "web.1" in output and "worker.1" in output
    assert str(written) in output  # the worker's log names the file
