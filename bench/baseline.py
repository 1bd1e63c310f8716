"""The floor of this stack: a bare Flask view that renders the catalogue page
(a COUNT and 24 rows) straight from the database driver with one small template.

Served by `make bench` under the same gunicorn settings as the store.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from flask import Flask, render_template, request

from config import database_url

URL = database_url(os.environ.get("DATABASE_URL"))
COUNT = "SELECT count(*) FROM items WHERE archived_at IS NULL"
PAGE = (
    "SELECT id, name, price_cents, stock FROM items WHERE archived_at IS NULL "
    "ORDER BY name, id LIMIT 24 OFFSET {offset}"
)

app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
_local = threading.local()


def connection():
    """One driver connection per thread, opened on first use."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        if URL.startswith("sqlite"):
            conn = sqlite3.connect(
                URL.removeprefix("sqlite:///"), check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode = WAL")
        else:
            import psycopg

            conn = psycopg.connect(
                URL.replace("postgresql+psycopg", "postgresql"), autocommit=True
            )
        _local.conn = conn
    return conn


@app.template_filter()
def money(cents: int) -> str:
    dollars, rest = divmod(cents, 100)
    return f"${dollars:,}.{rest:02d}"


@app.get("/items/")
def catalogue():
    page = max(request.args.get("page", 1, type=int), 1)
    cur = connection().cursor()
    cur.execute(COUNT)
    (total,) = cur.fetchone()
    cur.execute(PAGE.format(offset=(page - 1) * 24))
    rows = cur.fetchall()
    return render_template("baseline.html", rows=rows, total=total, page=page)
