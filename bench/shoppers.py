"""`make load`: shoppers as Locust drives them, against the production setup.

Seeds a PostgreSQL store (`flask seed`, nothing else: the store as a newcomer
has it), serves it under gunicorn.conf.py with the production config and
Redis for the cache and the sign-in limits, and runs bench/locustfile.py
headless: USERS concurrent users (most browsing and searching, some opening
items, a few signing in and checking out) for a bounded time on loopback.

Then it reads Locust's statistics (requests/s, p50/p95/p99 and failures per
page) and counts from the database what the buyers did: orders placed, and
oversold units (every unit that left stock must be in a purchase line of
the run, and no stock is below zero). The numbers go into bench/results.json
under "locust"; bench/report.py draws them into BENCHMARKS.md and
docs/locust.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report
from bench.common import RESULTS_JSON, ROOT, SCRATCH, log
from bench.run import (
    base_env,
    free_port,
    fresh_database,
    postgres_server,
    serve,
    stop,
)
from config import database_url

WORDS = ("oak", "lamp", "walnut", "steel", "linen", "chair", "mug", "brass")
BUYERS = 40  # accounts the buyers sign in with, in turn
STOCKED_ITEMS = 40  # what the buyers pick from: a little stock each, to race for
STOCK_EACH = 25


def locust_bin() -> Path:
    """Locust from this environment, or the bench's own (see the Makefile)."""
    here = Path(sys.executable).with_name("locust")
    if here.exists():
        return here
    found = shutil.which("locust")
    if not found:
        raise SystemExit("Locust is needed: pip install -r requirements-bench.txt")
    return Path(found)


def plan(db: sa.Engine, path: Path, tally: Path) -> dict:
    """The buyers, the items they race for (restocked to STOCK_EACH), and the
    browsers' items and words; written where the locustfile reads it."""
    with db.begin() as conn:
        buyers = conn.execute(
            sa.text("SELECT email FROM users WHERE NOT is_admin ORDER BY id LIMIT :n"),
            {"n": BUYERS},
        ).scalars()
        stocked = list(
            conn.execute(
                sa.text(
                    "SELECT id FROM items WHERE archived_at IS NULL "
                    "ORDER BY id DESC LIMIT :n"
                ),
                {"n": STOCKED_ITEMS},
            ).scalars()
        )
        conn.execute(
            sa.text("UPDATE items SET stock = :s WHERE id = ANY(:ids)"),
            {"s": STOCK_EACH, "ids": stocked},
        )
        items = list(
            conn.execute(
                sa.text(
                    "SELECT id FROM items WHERE archived_at IS NULL "
                    "ORDER BY random() LIMIT 500"
                )
            ).scalars()
        )
        live = conn.execute(sa.text("SELECT live_items FROM store_totals")).scalar()
        marks = conn.execute(
            sa.text(
                "SELECT (SELECT coalesce(max(id), 0) FROM user_items), "
                "(SELECT count(*) FROM orders)"
            )
        ).one()
    content = {
        "buyers": list(buyers),
        "stocked": stocked,
        "items": items,
        "words": list(WORDS),
        "pages": max(1, min(200, live // 24)),
        "tally": str(tally),
        "last_line": marks[0],
        "orders_before": marks[1],
    }
    path.write_text(json.dumps(content))
    return content


def oversold(db: sa.Engine, content: dict) -> tuple[int, int]:
    """(orders placed during the run, units oversold): for the raced items,
    each unit that left stock must be a unit in one of the run's lines."""
    with db.connect() as conn:
        placed = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar()
        rows = conn.execute(
            sa.text(
                "SELECT i.id, i.stock, coalesce(sum(ui.quantity), 0) FROM items i "
                "LEFT JOIN user_items ui ON ui.item_id = i.id AND ui.id > :last "
                "WHERE i.id = ANY(:ids) GROUP BY i.id, i.stock"
            ),
            {"last": content["last_line"], "ids": content["stocked"]},
        ).all()
        negative = conn.execute(
            sa.text("SELECT count(*) FROM items WHERE stock < 0")
        ).scalar()
    wrong = sum(abs((STOCK_EACH - stock) - units) for _, stock, units in rows)
    return placed - content["orders_before"], wrong + negative


def read_stats(prefix: Path, seconds: float) -> dict:
    """Locust's per-page statistics: requests/s, p50/p95/p99 and failures."""
    pages = {}
    with open(f"{prefix}_stats.csv", newline="") as file:
        for line in csv.DictReader(file):
            name = line["Name"] if line["Name"] != "Aggregated" else "all"
            pages[name] = {
                "requests": int(line["Request Count"]),
                "failures": int(line["Failure Count"]),
                "requests_per_s": float(line["Requests/s"]),
                "p50_ms": float(line["50%"] or 0),
                "p95_ms": float(line["95%"] or 0),
                "p99_ms": float(line["99%"] or 0),
            }
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--spawn-rate", type=int, default=10)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--shoppers", type=int, default=10_000)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument(
        "--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print, keep no results"
    )
    parser.add_argument(
        "--note", default="", help="a line for BENCHMARKS.md about this run"
    )
    args = parser.parse_args()
    server = postgres_server()
    if server is None:
        raise SystemExit(
            "make load runs on PostgreSQL: set DATABASE_URL or TEST_DATABASE_URL"
        )
    SCRATCH.mkdir(exist_ok=True)
    url = fresh_database("postgresql", "store_load", server)
    env = {
        **base_env(),
        "DATABASE_URL": url,
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": f"{args.redis}/3",
        "CACHE_KEY_PREFIX": f"store-load-{os.getpid()}:",
        "RATELIMIT_STORAGE_URI": f"{args.redis}/4",
        "RATELIMIT_KEY_PREFIX": f"store-load-{os.getpid()}",
    }
    flask = [str(Path(sys.executable).with_name("flask"))]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True)
    log(
        f"seeding {args.items:,} items, {args.shoppers:,} shoppers, {args.purchases:,} lines"
    )
    started = time.time()
    subprocess.run(
        [*flask, "seed", "--items", str(args.items), "--users", str(args.shoppers),
         "--purchases", str(args.purchases)],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    seed_seconds = time.time() - started
    db = sa.create_engine(database_url(url))
    content = plan(db, SCRATCH / "load-plan.json", SCRATCH / "load-tally.json")
    port = free_port()
    proc = serve("wsgi:app", env, port)
    prefix = SCRATCH / "locust"
    try:
        log(f"locust: {args.users} users for {args.seconds} s against port {port}")
        subprocess.run(
            [str(locust_bin()), "-f", str(ROOT / "bench" / "locustfile.py"),
             "--headless", "-u", str(args.users), "-r", str(args.spawn_rate),
             "-t", f"{args.seconds}s", "--host", f"http://127.0.0.1:{port}",
             "--csv", str(prefix), "--only-summary", "--stop-timeout", "10"],
            cwd=ROOT, env={**env, "LOAD_PLAN": str(SCRATCH / "load-plan.json")},
            check=False,
        )  # fmt: skip
        time.sleep(2)  # checkouts in flight commit
    finally:
        stop(proc)
    placed, wrong = oversold(db, content)
    db.dispose()
    tally = json.loads((SCRATCH / "load-tally.json").read_text())
    result = {
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "users": args.users,
        "seconds": args.seconds,
        "store": {
            "items": args.items,
            "users": args.shoppers,
            "purchases": args.purchases,
        },
        "seed_seconds": round(seed_seconds, 1),
        "workers": int(env.get("GUNICORN_WORKERS", os.cpu_count() * 2 + 1)),
        "pages": read_stats(prefix, args.seconds),
        "orders_placed": placed,
        "orders_seen_by_buyers": tally["orders"],
        "turned_away": tally["turned_away"],
        "oversold": wrong,
        "note": args.note,
    }
    print(report.locust_table(result), flush=True)
    if args.no_write:
        return
    results = report.load_results() if RESULTS_JSON.exists() else {"engines": {}}
    results["locust"] = result
    report.save_results(results)
    report.write_report(results)


if __name__ == "__main__":
    main()
