"""Handing an outbox row to the mail server (Flask-Mailman), or to a file.

With MAIL_SERVER set, emails go out over SMTP with MAIL_TIMEOUT on the
connection and every reply. Without it, `EmailBackend` below writes each
one to MAIL_FILE_PATH (instance/mail/) as an .eml file and logs where, so a
development store needs no mail server; open the file in any mail program.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
import socket
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

from flask import Flask, current_app
from flask_mailman import BadHeaderError, EmailMultiAlternatives
from flask_mailman.backends.base import BaseEmailBackend

from app.extensions import mail

log = logging.getLogger("app.mail")
FILE_BACKEND = "app.mail.delivery.EmailBackend"


def init_app(app: Flask) -> None:
    """SMTP when MAIL_SERVER is set, else .eml files (unless MAIL_BACKEND says)."""
    if app.config.get("MAIL_USE_TLS") and app.config.get("MAIL_USE_SSL"):
        raise RuntimeError("Set MAIL_USE_TLS or MAIL_USE_SSL, not both.")
    if not app.config.get("MAIL_BACKEND"):
        app.config["MAIL_BACKEND"] = (
            "smtp" if app.config.get("MAIL_SERVER") else FILE_BACKEND
        )
    mail.init_app(app)


class Permanent(Exception):
    """A send that will fail the same way however often it is tried."""


def message_id(dedupe_key: str) -> str:
    """The same Message-ID for every try of one email: should a send be
    repeated after a crash, mail programs show the copy as one message."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    domain = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1].rpartition("@")[2]
    return f"<{digest}@{domain or 'localhost'}>"


def build(row) -> EmailMultiAlternatives:
    """The email for an outbox row: plain text, and HTML when it has some."""
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body_text,
        from_email=current_app.config["MAIL_DEFAULT_SENDER"],
        to=[row.recipient],
        headers={
            "Message-ID": message_id(row.dedupe_key),
            "Auto-Submitted": "auto-generated",
        },
    )
    if row.list_unsubscribe:
        # RFC 2369 and RFC 8058: the mail program's own "Unsubscribe" button
        # posts to this address, one click, no page in between.
        message.extra_headers["List-Unsubscribe"] = f"<{row.list_unsubscribe}>"
        message.extra_headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if row.body_html:
        message.attach_alternative(row.body_html, "text/html")
    return message


def send_all(rows, on_result) -> None:
    """Send each row over one connection, calling on_result(row, error) after
    each (error None when the server took it). A connection that breaks is
    opened again for the next row; a server that cannot be reached at all
    fails the rest of the batch with the same error, untried, so a batch
    costs one MAIL_TIMEOUT and not one per email."""
    connection = mail.get_connection()
    unreachable: Exception | None = None
    try:
        for row in rows:
            if unreachable is not None:
                on_result(row, unreachable)
                continue
            try:
                opened = connection.open()
            except (smtplib.SMTPException, OSError) as error:
                _close(connection)
                unreachable = error
                on_result(row, error)
                continue
            try:
                connection.send_messages([build(row)])
            except (BadHeaderError, ValueError, UnicodeError) as error:
                on_result(row, Permanent(f"The email cannot be built: {error}"))
            except smtplib.SMTPResponseException as error:
                _close(connection)
                on_result(row, _classify(error.smtp_code, error))
            except smtplib.SMTPRecipientsRefused as error:
                _close(connection)
                codes = [code for code, _ in error.recipients.values()]
                on_result(row, _classify(min(codes, default=450), error))
            except (smtplib.SMTPException, OSError) as error:  # dropped, timed out
                _close(connection)
                if opened:  # a fresh connection failed at once: the server is away
                    unreachable = error
                on_result(row, error)
            else:
                on_result(row, None)
    finally:
        _close(connection)


def _classify(code: int, error: Exception) -> Exception:
    """5xx: the server will never take it (a bad address); 4xx: try later."""
    return Permanent(describe(error)) if 500 <= code < 600 else error


def _close(connection) -> None:
    try:
        connection.close()
    except (smtplib.SMTPException, OSError):
        connection.connection = None


def describe(error: Exception) -> str:
    """What went wrong, in one line for the outbox's last_error."""
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return f"The mail server answered {error.smtp_code}: {text}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        parts = []
        for address, (code, text) in error.recipients.items():
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            parts.append(f"{address}: {code} {text}")
        return "The mail server refused the recipient: " + "; ".join(parts)
    if isinstance(error, socket.timeout | TimeoutError) or (
        # smtplib reports a reply that never came as a disconnection
        isinstance(error, smtplib.SMTPServerDisconnected) and "timed out" in str(error)
    ):
        return "The mail server did not answer in time."
    if isinstance(error, ConnectionRefusedError):
        return "The mail server refused the connection."
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class EmailBackend(BaseEmailBackend):
    """Writes each email to MAIL_FILE_PATH as one .eml file, and logs it."""

    def __init__(self, mailman=None, fail_silently=False, file_path=None, **kwargs):
        super().__init__(mailman=mailman, fail_silently=fail_silently)
        self.folder = Path(file_path or self.mailman.file_path)

    def send_messages(self, email_messages) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            data = message.message().as_bytes(linesep="\n")
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
            subject = re.sub(r"[^A-Za-z0-9]+", "-", message.subject).strip("-")[:60]
            path = self.folder / f"{stamp}-{subject or 'email'}.eml"
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            os.replace(partial, path)  # whole files only, for anyone watching
            log.info(
                "Email %r to %s written to %s",
                message.subject,
                ", ".join(message.to),
                path,
            )
        return len(email_messages)
