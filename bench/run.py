"""`make bench`: the store's pages against a raw-driver baseline, in one run.

For each engine (SQLite always; PostgreSQL when DATABASE_URL or
TEST_DATABASE_URL points at one) it seeds a large store and a small one,
serves the store, the small store and the baseline pages (bench/baseline.py:
the catalogue's, the checkout page's and the admin order list's) under the
same gunicorn settings (gunicorn.conf.py, production config), loads them with
wrk in alternating rounds (the signed-in pages and their baselines with the
same session cookie), times the checkout loop and runs the last-units race
(bench/load.py), and reads each worker's memory. The numbers
go to bench/results.json; from them bench/report.py prints a table per engine
of requests/s, p50/p99 latency, errors and each page's throughput as a ratio
to the baseline, and writes BENCHMARKS.md and docs/benchmarks.png.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report
from bench.common import RESULTS_JSON, ROOT, SCRATCH, log
from bench.load import (
    SHOPPER_PASSWORD,
    Browser,
    checkout_loop,
    last_units_race,
    medians,
    wrk_page,
)
from config import database_url

BIN = Path(sys.executable).parent
WORD = "oak"  # a material in about one seeded name in twenty
ADMIN_EMAIL, ADMIN_PASSWORD = "bench-admin@example.com", "bench-admin-pass"
SMALL_STORE = {"items": 1000, "users": 100, "purchases": 2000}
CART_ITEMS = 3  # the checkout page's cart
# The checkout page's shopper's saved addresses: (name, line1, line2, city,
# postcode, country).
SAVED_ADDRESSES = [
    ("Ada Lovelace", "12 Maple Avenue", "", "Portland", "97205", "US"),
    ("Ada Lovelace", "4 Mill Lane", "Flat 2", "Boston", "02108", "US"),
]
MIN_ORDERS = 100_000  # the admin's order list at the default size
DEFAULT_PURCHASES = 1_000_000


@dataclass
class Page:
    key: str
    label: str
    path: str
    server: str = "store"  # store | small | baseline | drawn | drawn_small
    browser: Browser | None = None  # signed in, for pages behind a login
    baseline: str = "baseline"  # the key of the page its ratio is taken against
    rounds: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.server == "baseline":  # a baseline is its own measure
            self.baseline = self.key

    def result(self) -> dict:
        return {
            "label": self.label,
            "path": self.path,
            "server": self.server,
            "baseline": self.baseline,
            "median": medians(self.rounds),
            "rounds": self.rounds,
        }


@dataclass
class StoreFacts:
    """What the benchmark picks out of the seeded large store."""

    top_user: int  # the shopper with the most purchase lines
    top_email: str
    user_lines: int
    best_item: int  # the item in the most purchase lines
    best_lines: int
    buyer_emails: list[str]  # the checkout's buyers
    live_items: int
    checkout_item: int
    cart_user: int  # the shopper whose cart the checkout page shows
    cart_email: str
    cart_items: list[int]  # in that cart, one unit of each
    orders: int
    top_order: str  # the number of the top shopper's latest order


# --- processes -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flask(env: dict, *args: str) -> None:
    subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=env, check=True)


def serve(app: str, env: dict, port: int) -> subprocess.Popen:
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_ACCESSLOG": ""}
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", app],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(SCRATCH / f"gunicorn-{port}.log", "w"),  # noqa: SIM115
        start_new_session=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/items/")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    raise SystemExit(
        f"{app} did not start on port {port}; see {SCRATCH}/gunicorn-{port}.log"
    )


def worker_rss_mb(master: subprocess.Popen) -> list[float]:
    """Resident memory of each gunicorn worker (children of the master)."""
    out = subprocess.run(
        ["ps", "-o", "rss=", "--ppid", str(master.pid)], capture_output=True, text=True
    ).stdout
    return [int(line) / 1024 for line in out.split()]


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


# The large and the small store once more without the page cache: the
# catalogue drawn on every view, to compare the two sizes by their queries.
DRAWN = ("drawn", "drawn_small")
NO_PAGE_CACHE = {"PAGE_CACHE_ENTRIES": "0"}


def start_servers(big_env: dict, small_env: dict) -> tuple[dict, dict]:
    """The large store, the small one, the baseline page (over the large
    store's database) and both stores without the page cache, each on a port
    of its own: (ports, processes)."""
    log("serving the large store, the small store and the baseline under gunicorn")
    ports = {name: free_port() for name in ("store", "small", "baseline", *DRAWN)}
    procs = {}
    try:
        procs["store"] = serve("wsgi:app", big_env, ports["store"])
        procs["small"] = serve("wsgi:app", small_env, ports["small"])
        procs["baseline"] = serve("bench.baseline:app", big_env, ports["baseline"])
        for name, env in (("drawn", big_env), ("drawn_small", small_env)):
            procs[name] = serve("wsgi:app", {**env, **NO_PAGE_CACHE}, ports[name])
    except BaseException:
        stop_servers(procs)
        raise
    return ports, procs


def stop_servers(procs: dict) -> None:
    for proc in procs.values():
        stop(proc)


# --- databases and seeding -------------------------------------------------------


def fresh_database(
    engine: str, name: str, server: str | None, keep: bool = False
) -> str:
    """An empty database called `name` (`keep`: the one there, if seeded)."""
    if engine == "sqlite":
        path = SCRATCH / f"{name}.db"
        if not (keep and path.exists()):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    url = sa.engine.make_url(database_url(server))
    named = url.set(database=name).render_as_string(hide_password=False)
    if keep and seed_record(named).exists():
        return named
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return named


def seed_record(url: str) -> Path:
    """Where the time a database's seed took is kept, beside the databases."""
    return SCRATCH / f"{sa.engine.make_url(url).database.rsplit('/', 1)[-1]}.seed.json"


def prepare(
    url: str,
    label: str,
    env: dict,
    size: dict,
    vacuum: bool = True,
    reuse: bool = False,
) -> dict:
    """Migrates and seeds the store at `url`, adds the bench's admin; the
    environment that serves it. `reuse`: a database this size seeded by an
    earlier run is served as it is, with the time its seed took then."""
    env = {**env, "DATABASE_URL": url}
    record = seed_record(url)
    if reuse and record.exists():
        seeded = json.loads(record.read_text())
        if seeded["size"] == size:
            log(f"{label}: reusing the store seeded {seeded['date']} "
                f"in {seeded['seconds']:.0f} s")  # fmt: skip
            env["BENCH_SEED_SECONDS"] = f"{seeded['seconds']:.1f}"
            env["BENCH_VACUUMED"] = "yes" if seeded.get("vacuumed") else ""
            return env
    log(
        f"{label}: migrating and seeding {size['items']:,} items, "
        f"{size['users']:,} users, {size['purchases']:,} lines"
    )
    flask(env, "db", "upgrade")
    started = time.time()
    flask(env, "seed", "--items", str(size["items"]), "--users", str(size["users"]),
          "--purchases", str(size["purchases"]))  # fmt: skip
    seconds = time.time() - started
    env["BENCH_SEED_SECONDS"] = f"{seconds:.1f}"
    env["BENCH_VACUUMED"] = "yes" if vacuum and url.startswith("postgresql") else ""
    log(f"{label}: seeded in {env['BENCH_SEED_SECONDS']} s")
    if vacuum and url.startswith("postgresql"):
        # As autovacuum would soon: statistics for the planner, and a visibility
        # map so covering indexes answer without visiting the table.
        engine = sa.create_engine(database_url(url), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        engine.dispose()
    flask(env, "create-admin", "--name", "Bench Admin", "--email", ADMIN_EMAIL,
          "--password", ADMIN_PASSWORD)  # fmt: skip
    record.write_text(json.dumps(
        {"size": size, "seconds": seconds, "date": f"{datetime.now(UTC):%Y-%m-%d}",
         "vacuumed": vacuum}
    ))  # fmt: skip
    return env


def store_facts(db: sa.Engine, buyers: int) -> StoreFacts:
    with db.connect() as conn:

        def query(sql: str, **params) -> sa.Result:
            return conn.execute(sa.text(sql), params)

        top_user, top_email = query(
            "SELECT u.id, u.email FROM users u JOIN user_items ui ON ui.user_id = u.id "
            "WHERE NOT u.is_admin GROUP BY u.id, u.email ORDER BY count(*) DESC LIMIT 1"
        ).one()
        best_item, best_lines = query(
            "SELECT item_id, count(*) FROM user_items GROUP BY item_id "
            "ORDER BY count(*) DESC LIMIT 1"
        ).one()
        user_lines = query(
            "SELECT count(*) FROM user_items WHERE user_id = :u", u=top_user
        ).scalar()
        buyer_emails = query(
            "SELECT email FROM users WHERE NOT is_admin ORDER BY id LIMIT :n", n=buyers
        ).scalars()
        live_items = query(
            "SELECT count(*) FROM items WHERE archived_at IS NULL"
        ).scalar()
        checkout_item = query(
            "SELECT id FROM items WHERE archived_at IS NULL ORDER BY id DESC LIMIT 1"
        ).scalar()
        # The last shopper (none of the checkout's buyers at the default size)
        # and three items in stock other than the checkout's.
        cart_user, cart_email = query(
            "SELECT id, email FROM users WHERE NOT is_admin ORDER BY id DESC LIMIT 1"
        ).one()
        cart_items = query(
            "SELECT id FROM items WHERE archived_at IS NULL AND stock > 0 "
            "AND id <> :c ORDER BY id LIMIT :n",
            c=checkout_item, n=CART_ITEMS,
        ).scalars()  # fmt: skip
        orders = query("SELECT count(*) FROM orders").scalar()
        top_order = query(
            "SELECT number FROM orders WHERE user_id = :u ORDER BY id DESC LIMIT 1",
            u=top_user,
        ).scalar()
    return StoreFacts(
        top_user, top_email, user_lines, best_item, best_lines,
        list(buyer_emails), live_items, checkout_item,
        cart_user, cart_email, list(cart_items), orders, top_order,
    )  # fmt: skip


def save_addresses(db: sa.Engine, user_id: int) -> None:
    """The saved addresses a returning shopper's earlier checkouts left (the
    store saves them only there)."""
    columns = ("name", "line1", "line2", "city", "postcode", "country")
    with db.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO addresses (user_id, name, line1, line2, city, postcode, "
                "country) VALUES (:user_id, :name, :line1, :line2, :city, "
                ":postcode, :country)"
            ),
            [{"user_id": user_id, **dict(zip(columns, a, strict=True))}
             for a in SAVED_ADDRESSES],
        )  # fmt: skip


def shopper_with_cart(port: int, store: StoreFacts) -> Browser:
    """The cart shopper signed in, each item added through its page's
    add-to-cart form, each redirect followed to the cart (which shows, and so
    clears, the "Added" message, as a browser would)."""
    shopper = Browser(port).login(store.cart_email, SHOPPER_PASSWORD)
    for item_id in store.cart_items:
        status, location, _ = shopper.post_form(
            "/purchases/cart", {"item_id": item_id, "quantity": 1},
            page=f"/items/{item_id}",
        )  # fmt: skip
        if status != 302:
            raise SystemExit(f"could not add item {item_id} to the cart ({status})")
        shopper.request("GET", location)
    return shopper


# --- the pages and their rounds ------------------------------------------------------


ANONYMOUS_PAGES = ("baseline", "baseline_counting", "catalogue", "catalogue_deep",
                   "search", "sort_price", "item", "item_returning", "catalogue_1k",
                   "catalogue_drawn", "catalogue_1k_drawn")  # fmt: skip


def bench_pages(store: StoreFacts, ports: dict, anonymous_only: bool) -> list[Page]:
    """Every page wrk loads, the baseline first; the signed-in ones with their
    shopper's or admin's session (none with `anonymous_only`)."""
    if anonymous_only:
        return [page for page in all_pages(store, ports, None, None, None)
                if page.key in ANONYMOUS_PAGES]  # fmt: skip
    shopper = Browser(ports["store"]).login(store.top_email, SHOPPER_PASSWORD)
    admin = Browser(ports["store"]).login(ADMIN_EMAIL, ADMIN_PASSWORD)
    cart = shopper_with_cart(ports["store"], store)
    return all_pages(store, ports, shopper, admin, cart)


def all_pages(store: StoreFacts, ports: dict, shopper, admin, cart) -> list[Page]:
    """Every page, with the signed-in ones' browsers as given; `visitor` is
    not signed in and has opened the sign-in page, so they send a session
    cookie whose CSRF token each item page signs for its form (a first
    visit's item page starts no session: it carries the visitor token)."""
    deep_page = min(200, max(1, store.live_items // 24))
    visitor = Browser(ports["store"])
    visitor.request("GET", "/users/login")
    if "session" not in visitor.cookies:
        raise SystemExit("the sign-in page gave the returning visitor no session")
    visitor.request("GET", f"/items/{store.best_item}")
    return [
        Page("baseline", "Strict floor (raw driver: running-total row + 24 rows)",
             "/items/", "baseline"),
        Page("baseline_counting", "Counting floor (raw driver: COUNT of live items + "
             "24 rows)", "/counting/items/", "baseline"),
        Page("catalogue", "Catalogue page 1 (with Popular)", "/items/"),
        Page("catalogue_deep", f"Catalogue page {deep_page}", f"/items/?page={deep_page}"),
        Page("search", f"Search ?q={WORD}", f"/items/?q={WORD}"),
        Page("sort_price", "Sort by price", "/items/?sort=price"),
        Page("item", "Item page (best seller, with recommendations)",
             f"/items/{store.best_item}"),
        Page("item_returning", "Item page, a returning visitor (a session from the sign-in page, its cookie "
             "sent back)", f"/items/{store.best_item}", browser=visitor),
        Page("history", f"Purchase history ({store.user_lines:,} lines)", "/purchases/",
             browser=shopper),
        Page("order", "Order page (the top shopper's latest order)",
             f"/purchases/orders/{store.top_order}", browser=shopper),
        Page("cart", f"Cart ({CART_ITEMS} items)", "/purchases/cart",
             browser=cart),
        Page("admin_buyers", f"Admin: buyers of best seller ({store.best_lines:,} lines)",
             f"/items/{store.best_item}", browser=admin),
        Page("baseline_checkout", "Baseline: checkout page (raw driver)",
             "/purchases/checkout", "baseline", cart),
        Page("checkout", f"Checkout page ({CART_ITEMS} items in the cart, "
             f"{len(SAVED_ADDRESSES)} saved addresses)", "/purchases/checkout",
             browser=cart, baseline="baseline_checkout"),
        Page("baseline_admin_orders", "Baseline: admin order list (raw driver)",
             "/purchases/orders/", "baseline", admin),
        Page("admin_orders", f"Admin: order list ({store.orders:,} orders, newest 50)",
             "/purchases/orders/", browser=admin, baseline="baseline_admin_orders"),
        Page("catalogue_1k", "Catalogue page 1 at 1,000 items", "/items/", "small"),
        Page("catalogue_drawn", "Catalogue page 1, drawn on every view (no page cache)",
             "/items/", "drawn"),
        Page("catalogue_1k_drawn", "Catalogue page 1 at 1,000 items, drawn on every "
             "view (no page cache)", "/items/", "drawn_small"),
    ]  # fmt: skip


def measure_pages(engine: str, pages: list[Page], ports: dict, args) -> None:
    """Warms every page and checks it answers, and keeps its session as it is
    (wrk sends one cookie throughout), then loads them all with wrk, one after
    another, round after round."""
    for page in pages:
        browser = Browser(ports[page.server])
        if page.browser:  # the same cookies: what the first view sets, wrk sends
            browser.cookies = page.browser.cookies
        # Signed in, twice: the first view may take a message left in the
        # session; the second must leave the cookie wrk will send as it is.
        for _ in range(2 if page.browser else 1):
            before = dict(browser.cookies)
            status, _, _ = browser.request("GET", page.path)
            if status != 200:
                raise SystemExit(f"{page.label}: {page.path} answered {status}")
        if page.browser and browser.cookies != before:
            raise SystemExit(f"{page.label}: {page.path} changes the session each view")
    for round_no in range(1, args.rounds + 1):
        log(f"{engine}: round {round_no}/{args.rounds} of {len(pages)} pages, "
            f"{args.seconds} s each")  # fmt: skip
        for page in pages:
            cookie = page.browser.cookie_header if page.browser else ""
            port = ports[page.server]
            run = wrk_page(port, page.path, args.seconds, args.connections, cookie)
            page.rounds.append(run)


# The pages loaded again while signed-in buyers check out beside them: every
# checkout bumps the page version, so the anonymous pages are drawn afresh.
# A busy shop's pace, not buyers flat out (the checkout loop measures that):
# each of WRITE_LOAD_BUYERS places an order, pauses WRITE_LOAD_PAUSE_MS, and
# places the next.
WRITE_LOAD_PAGES = ("catalogue", "catalogue_deep", "search", "sort_price", "item")
WRITE_LOAD_BUYERS = 4
WRITE_LOAD_PAUSE_MS = 500


def measure_under_writes(
    db: sa.Engine, pages: list[Page], ports: dict, store: StoreFacts, args
) -> tuple[list[Page], dict]:
    """Each of WRITE_LOAD_PAGES under wrk once more while the checkout loop
    runs beside it (its own wrk, its buyers on their own connections): the
    pages' numbers, and what the checkouts did meanwhile."""
    chosen = [page for page in pages if page.key in WRITE_LOAD_PAGES]
    seconds = args.seconds * len(chosen) + 2
    log(f"write load: {len(chosen)} pages with checkouts running beside them")
    done: dict = {}
    emails = store.buyer_emails[:WRITE_LOAD_BUYERS]
    buyers = threading.Thread(
        target=lambda: done.update(
            checkout_loop(
                db,
                ports["store"],
                emails,
                store.checkout_item,
                seconds,
                pause_ms=WRITE_LOAD_PAUSE_MS,
            )
        )
    )
    buyers.start()
    time.sleep(2 + len(emails) * 0.05)  # the buyers sign in first
    loaded = []
    for page in chosen:
        run = wrk_page(ports[page.server], page.path, args.seconds, args.connections)
        loaded.append(
            Page(
                f"{page.key}_writes",
                f"{page.label}, checkouts running beside",
                page.path,
                rounds=[run],
            )
        )
    buyers.join()
    return loaded, done


def measure_checkout(db: sa.Engine, port: int, store: StoreFacts, args) -> dict:
    """The checkout loop (throughput), then the last-units race (correctness),
    on the same item with the same buyers."""
    seconds = args.seconds * 2
    emails, item = store.buyer_emails, store.checkout_item
    return {
        "checkout_loop": checkout_loop(db, port, emails, item, seconds),
        "last_units_race": last_units_race(
            db, port, emails, item, args.checkout_stock, seconds
        ),
    }


def memory(master: subprocess.Popen) -> dict:
    rss = worker_rss_mb(master)
    return {"workers": len(rss), "largest_worker_mb": max(rss) if rss else None}


# --- one engine ----------------------------------------------------------------------


def base_env() -> dict:
    return {
        **os.environ,
        "STORE_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "LOGIN_RATE_LIMIT": "100000 per minute",
        # The bench's sign-ins are its own: counted per worker, knowingly
        # (gunicorn.conf.py refuses memory:// with several workers otherwise).
        "RATELIMIT_PER_PROCESS": "true",
        "GUNICORN_MAX_REQUESTS": "0",
        "FLASK_APP": "wsgi.py",
    }


def store_size(args: argparse.Namespace) -> dict:
    return {"items": args.items, "users": args.users, "purchases": args.purchases}


def bench_engine(engine: str, args: argparse.Namespace, server: str | None) -> dict:
    """Seeds, serves and measures one engine: its part of bench/results.json."""
    env = base_env()
    name = "store_bench_scale" if args.scale else "store_bench"
    big_url = fresh_database(engine, name, server, keep=args.reuse_seed)
    small_url = fresh_database(engine, "store_bench_small", server)
    vacuum = not args.bare_seed  # --bare-seed: only what `flask seed` does itself
    big_env = prepare(
        big_url, f"{engine} large", env, store_size(args), vacuum, args.reuse_seed
    )
    small_env = prepare(small_url, f"{engine} small", env, SMALL_STORE, vacuum)

    db = sa.create_engine(database_url(big_url))
    try:
        store = store_facts(db, args.buyers)
        log(f"{engine}: top user {store.top_user} has {store.user_lines:,} lines; "
            f"item {store.best_item} has {store.best_lines:,} lines; "
            f"{store.orders:,} orders")  # fmt: skip
        if store.orders < MIN_ORDERS:
            log(f"{engine}: the order list has under {MIN_ORDERS:,} orders "
                f"(the default store, {DEFAULT_PURCHASES:,} lines, has more)")  # fmt: skip
        if not args.scale:
            save_addresses(db, store.cart_user)
        ports, procs = start_servers(big_env, small_env)
        try:
            pages = bench_pages(store, ports, anonymous_only=args.scale)
            measure_pages(engine, pages, ports, args)
            write_load = None
            if not (args.no_write_load or args.scale):
                loaded, write_load = measure_under_writes(db, pages, ports, store, args)
                pages += loaded
            checkout = {"checkout_loop": None, "last_units_race": None}
            if not args.scale and (engine == "postgresql" or args.checkout_sqlite):
                checkout = measure_checkout(db, ports["store"], store, args)
            used = memory(procs["store"])
        finally:
            stop_servers(procs)
    finally:
        db.dispose()
    return {
        "measured": run_facts(args),
        "pages": {page.key: page.result() for page in pages},
        **checkout,
        "write_load_checkouts": write_load,
        "memory": used,
        "vacuumed": bool(big_env["BENCH_VACUUMED"]),
        "seed_seconds": float(big_env["BENCH_SEED_SECONDS"]),
    }


def engine_key(engine: str, args: argparse.Namespace) -> str:
    """The engine's heading in the results: a run of another kind (a bare
    seed, the large scale) has its own, and leaves the others as they are."""
    if args.scale:
        return f"{engine} at {args.items:,} items, {args.purchases:,} lines"
    if args.bare_seed:
        return f"{engine}, right after flask seed"
    return engine


# --- the whole run -------------------------------------------------------------------


def run_facts(args: argparse.Namespace) -> dict:
    """The machine and the settings, for the report's first lines."""
    return {
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "command": " ".join(["bench/run.py", *sys.argv[1:]]),
        "store": store_size(args),
        "wrk": {
            "connections": args.connections,
            "seconds": args.seconds,
            "rounds": args.rounds,
        },
        "checkout": {"buyers": args.buyers, "stock": args.checkout_stock},
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--purchases", type=int, default=DEFAULT_PURCHASES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8, help="per page per round")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--buyers", type=int, default=16, help="concurrent checkout users"
    )
    parser.add_argument("--checkout-stock", type=int, default=200)
    parser.add_argument(
        "--checkout-sqlite", action="store_true", help="checkout on SQLite too"
    )
    parser.add_argument("--engines", default="auto", help="sqlite,postgresql or auto")
    parser.add_argument(
        "--bare-seed",
        action="store_true",
        help="no VACUUM ANALYZE after the seed: the store as `flask seed` leaves it",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="PostgreSQL at 1,000,000 items, 100,000 users and 10,000,000 lines: "
        "the anonymous pages against the same page at 1,000 items",
    )
    parser.add_argument(
        "--reuse-seed",
        action="store_true",
        help="serve the large store an earlier run seeded at this size, as it is",
    )
    parser.add_argument(
        "--no-write-load",
        action="store_true",
        help="skip loading the catalogue pages again with checkouts running beside",
    )
    parser.add_argument(
        "--no-write",
        action="store_true",
        help=f"print the tables only: leave {RESULTS_JSON.relative_to(ROOT)}, "
        "BENCHMARKS.md and the plot alone",
    )
    parser.add_argument(
        "--replot",
        action="store_true",
        help=f"only redraw the plot from {RESULTS_JSON.relative_to(ROOT)} "
        "(bench/report.py redraws BENCHMARKS.md too)",
    )
    args = parser.parse_args()
    if args.scale:
        args.items, args.users, args.purchases = 1_000_000, 100_000, 10_000_000
        if args.engines == "auto":
            args.engines = "postgresql"
    return args


def postgres_server() -> str | None:
    server = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    return server if server and server.startswith("postgres") else None


def main() -> None:
    args = parse_args()
    if args.replot:
        report.plot(report.load_results())
        return
    if not shutil.which("wrk"):
        raise SystemExit(
            "wrk is needed: apt-get install wrk (Debian) or brew install wrk"
        )
    SCRATCH.mkdir(exist_ok=True)
    server = postgres_server()
    engines = ["sqlite"] + (["postgresql"] if server else [])
    if args.engines != "auto":
        engines = args.engines.split(",")
    results = {"run": run_facts(args), "engines": {}}
    for engine in engines:
        key = engine_key(engine, args)
        results["engines"][key] = bench_engine(engine, args, server)
        print(f"\n## {key}\n\n{report.engine_table(results, key)}", flush=True)
    if args.no_write:
        return
    report.save_results(merged(results))
    report.write_report(report.load_results())


def merged(results: dict) -> dict:
    """This run's engines over the results file's: runs of another kind (a
    bare seed, the scale run) and make load's numbers stay beside them. A
    default run's facts head the report."""
    if not RESULTS_JSON.exists():
        return results
    earlier = report.load_results()
    engines = {**earlier.get("engines", {}), **results["engines"]}
    for result in engines.values():
        result.setdefault("measured", earlier.get("run"))
    run = results["run"] if set(results["engines"]) & {"sqlite", "postgresql"} else (
        earlier.get("run", results["run"])
    )  # fmt: skip
    ordered = dict(sorted(engines.items(), key=lambda kv: engine_order(kv[0])))
    return {**earlier, "run": run, "engines": ordered}


def engine_order(key: str) -> tuple[int, str]:
    """SQLite, PostgreSQL, then the runs of other kinds."""
    return ({"sqlite": 0, "postgresql": 1}.get(key, 2), key)


if __name__ == "__main__":
    main()
