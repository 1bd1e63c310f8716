"""`make bench`'s load: wrk on each page, the checkout loop, the last-units race.

Every measurement comes back as plain numbers (requests/s, p50/p99 in ms,
errors, and for checkout what was bought and whether anything was oversold),
ready for bench/results.json.

- `wrk_page`: wrk on one page; `parse_wrk` reads its output.
- `checkout_loop`: throughput. wrk runs bench/checkout.lua, each thread one
  signed-in buyer looping add to cart -> checkout page -> place the order
  (a new address, the page's delivery and payment) on its own connection,
  with stock to spare: requests/s of those three requests, and completed
  checkouts/s. Every unit taken from stock must be in a purchase line.
- `last_units_race`: correctness. The same buyers (Python threads) race for
  the item's last units until they are gone: what was sold must be exactly
  what there was. Its throughput is completed checkouts/s, its latencies
  those of the buy request alone.
"""

from __future__ import annotations

import http.client
import re
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import sqlalchemy as sa

from bench.common import ROOT, SCRATCH, log

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# What the checkout page records for its POST (the cart's token, the prices
# shown), and the delivery and payment it has chosen.
SHOWN_RE = re.compile(
    r'name="(token|seen_prices|seen_shipping|seen_tax)" type="hidden" value="([^"]*)"'
)
CHOSEN_RE = re.compile(r'name="(shipping|payment)" value="([^"]+)" checked')
# Where every benchmark buyer ships: typed in as a new address, not saved.
SHIP_TO = {"address_id": "", "name": "Bench Buyer", "line1": "1 Oak Street",
           "line2": "", "city": "Portland", "postcode": "97205", "country": "US"}  # fmt: skip
SHOPPER_PASSWORD = "demo-shopper-pass"  # every seeded shopper's
PLENTY = 1_000_000  # stock for the checkout loop: never runs out
SETTLE_SECONDS = 2  # for checkouts still in flight when the load stops


# --- HTTP: signing in through the real forms -----------------------------------


class Browser:
    """Just enough of a browser: cookies (Secure ones too, over loopback), CSRF,
    and one kept-alive connection, as a browser keeps one."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, form: dict | None = None):
        headers = {"Cookie": self.cookie_header}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response, text = self._send(method, path, body, headers)
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, response.getheader("Location", ""), text

    def _send(self, method: str, path: str, body: str | None, headers: dict):
        for attempt in (1, 2):  # once more on a fresh connection if the kept one closed
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=30
                )
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return response, response.read().decode()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post_form(self, path: str, data: dict, page: str | None = None):
        _, _, html = self.request("GET", page or path)
        token = CSRF_RE.search(html).group(1)
        return self.request("POST", path, {"csrf_token": token, **data})

    def login(self, email: str, password: str) -> Browser:
        status, _, _ = self.post_form(
            "/users/login", {"email": email, "password": password}
        )
        if status != 302:
            raise SystemExit(f"could not sign in as {email} (status {status})")
        return self

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


def signed_in_buyer(port: int, email: str, item_id: int) -> tuple[Browser, str]:
    """A demo shopper signed in, and the session's CSRF token (good for every
    form of that session), read off the item's page."""
    browser = Browser(port).login(email, SHOPPER_PASSWORD)
    _, _, page = browser.request("GET", f"/items/{item_id}")
    return browser, CSRF_RE.search(page).group(1)


# --- wrk -------------------------------------------------------------------------


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out: str) -> dict:
    """wrk --latency's report as numbers; errors are non-2xx/3xx responses
    plus socket errors of every kind."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = (int(bad.group(1)) if bad else 0) + (
        sum(map(int, sock.groups())) if sock else 0
    )
    return {"requests_per_s": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors}


def wrk_page(
    port: int, path: str, seconds: int, connections: int, cookie: str = ""
) -> dict:
    """One wrk run on one page: {requests_per_s, p50_ms, p99_ms, errors}."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True
    ).stdout
    return parse_wrk(out)


def medians(runs: list[dict]) -> dict:
    """The median of each number over the rounds."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


# --- the item's stock and sales, from the rows --------------------------------------


def units_sold(db: sa.Engine, item_id: int) -> tuple[int, int, int]:
    """(stock, purchase lines, units in them) of the item."""
    with db.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT stock, (SELECT count(*) FROM user_items WHERE item_id = :i), "
                "(SELECT coalesce(sum(quantity), 0) FROM user_items WHERE item_id = :i) "
                "FROM items WHERE id = :i"
            ),
            {"i": item_id},
        ).one()


def set_stock(db: sa.Engine, item_id: int, stock: int) -> None:
    with db.begin() as conn:
        conn.execute(
            sa.text("UPDATE items SET stock = :s WHERE id = :i"),
            {"s": stock, "i": item_id},
        )


# --- checkout loop: wrk and bench/checkout.lua --------------------------------------


def lua_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_sessions(port: int, emails: list[str], item_id: int) -> str:
    """Signs each buyer in; their cookies and CSRF tokens, as the Lua table
    bench/checkout.lua reads (one entry per wrk thread)."""
    entries = []
    for email in emails:
        browser, csrf = signed_in_buyer(port, email, item_id)
        entries.append(
            f"  {{ cookie = {lua_text(browser.cookie_header)}, csrf = {lua_text(csrf)} }},"
        )
    sessions = SCRATCH / "checkout-sessions.lua"
    sessions.write_text("return {\n" + "\n".join(entries) + "\n}\n")
    return str(sessions)


def run_checkout_script(
    port: int, emails: list[str], item_id: int, seconds: int, pause_ms: int = 0
) -> dict:
    """wrk with bench/checkout.lua, one thread and connection per buyer: wrk's
    numbers for all three requests, and the checkouts the script counted.
    `pause_ms`: each buyer's pause before each new order."""
    sessions = write_sessions(port, emails, item_id)
    n = len(emails)
    out = subprocess.run(
        ["wrk", f"-t{n}", f"-c{n}", f"-d{seconds}s", "--latency",
         "-s", str(ROOT / "bench" / "checkout.lua"), f"http://127.0.0.1:{port}/",
         "--", sessions, str(item_id), str(pause_ms)],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    bought, turned_away = map(int, re.search(r"CHECKOUTS (\d+) (\d+)", out).groups())
    return {**parse_wrk(out), "script_bought": bought, "turned_away": turned_away}


def checkout_loop(
    db: sa.Engine,
    port: int,
    emails: list[str],
    item_id: int,
    seconds: int,
    pause_ms: int = 0,
) -> dict:
    """Throughput of checkout with stock to spare. Every unit taken from stock
    must be a unit in a purchase line; every checkout the script saw succeed
    must be a line (a few more may have been in flight when wrk stopped, at
    most one per buyer). `pause_ms`: each buyer's pause between orders (0:
    flat out)."""
    paced = f", {pause_ms} ms between each one's orders" if pause_ms else ""
    log(f"checkout loop: {len(emails)} signed-in buyers under wrk for {seconds} s"
        f"{paced}")  # fmt: skip
    set_stock(db, item_id, PLENTY)
    _, lines_before, units_before = units_sold(db, item_id)
    run = run_checkout_script(port, emails, item_id, seconds, pause_ms)
    time.sleep(SETTLE_SECONDS)  # checkouts running when wrk stopped commit
    stock, lines, units = units_sold(db, item_id)
    completed = lines - lines_before
    in_flight = completed - run.pop("script_bought")
    if not 0 <= in_flight <= len(emails):
        run["errors"] += abs(in_flight)
    return {
        "buyers": len(emails),
        "pause_ms": pause_ms,
        "seconds": seconds,
        **run,  # requests_per_s, p50_ms, p99_ms and errors of the three requests
        "completed_checkouts": completed,
        "completed_checkouts_per_s": completed / seconds,
        "oversold": abs((PLENTY - stock) - (units - units_before)),
    }


# --- last-units race: Python threads -------------------------------------------------


@dataclass
class RaceTally:
    """What the racing buyers saw, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    buy_ms: list[float] = field(default_factory=list)
    sold: int = 0
    turned_away: int = 0
    errors: int = 0


def checkout_form(page: str) -> dict | None:
    """The checkout page's order form as the buyer sends it: what the page
    recorded, the delivery and payment it chose, the address typed in (None
    when the page has no token: no page, an empty cart)."""
    shown = dict(SHOWN_RE.findall(page))
    if not shown.get("token"):
        return None
    return {**shown, **dict(CHOSEN_RE.findall(page)), **SHIP_TO}


def add_and_open_checkout(browser: Browser, csrf: str, item_id: int):
    """Add one unit to the cart, then open the checkout page: (status of the
    add, the order form to send, or None)."""
    status, _, _ = browser.request(
        "POST",
        "/purchases/cart",
        {"csrf_token": csrf, "item_id": item_id, "quantity": 1},
    )
    _, _, page = browser.request("GET", "/purchases/checkout")
    return status, checkout_form(page)


def race_buyer(
    port: int, email: str, item_id: int, stop_at: float, tally: RaceTally
) -> None:
    """One buyer: add to cart, checkout page, place the order (timed), until
    sold out or time. A 409 is a checkout turned away: the stock the page
    showed went to someone else first."""
    browser, csrf = signed_in_buyer(port, email, item_id)
    while time.time() < stop_at:
        status, form = add_and_open_checkout(browser, csrf, item_id)
        if status != 302 or not form:
            with tally.lock:
                if status == 422:  # sold out: nothing left to add
                    tally.turned_away += 1
                    return
                tally.errors += 1
            continue
        started = time.perf_counter()
        status, location, _ = browser.request(
            "POST", "/purchases/checkout", {"csrf_token": csrf, **form}
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        with tally.lock:
            tally.buy_ms.append(elapsed_ms)
            if status == 302 and "/purchases/orders/" in location:
                tally.sold += 1
            elif status in (302, 409):
                tally.turned_away += 1
            else:
                tally.errors += 1


def race(port: int, emails: list[str], item_id: int, seconds: int) -> dict:
    """Every buyer in its own thread at once; completed checkouts/s, and the
    buy request's p50/p99."""
    tally = RaceTally()
    stop_at = time.time() + seconds
    threads = [
        threading.Thread(target=race_buyer, args=(port, e, item_id, stop_at, tally))
        for e in emails
    ]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.time() - started
    buy_ms = sorted(round(ms, 3) for ms in tally.buy_ms)
    return {
        "completed_checkouts_per_s": round(tally.sold / elapsed, 3),
        "buy_p50_ms": buy_ms[len(buy_ms) // 2] if buy_ms else 0.0,
        "buy_p99_ms": buy_ms[int(len(buy_ms) * 0.99)] if buy_ms else 0.0,
        "errors": tally.errors,
        "sold": tally.sold,
        "turned_away": tally.turned_away,
    }


def last_units_race(
    db: sa.Engine, port: int, emails: list[str], item_id: int, stock: int, seconds: int
) -> dict:
    """Correctness: the buyers race for the last `stock` units until they are
    gone; what was sold must be exactly what there was (oversold counts every
    unit sold beyond it, and every unit that left stock without being sold)."""
    log(f"last units race: {len(emails)} buyers race for {stock} units")
    set_stock(db, item_id, stock)
    _, _, units_before = units_sold(db, item_id)
    result = race(port, emails, item_id, seconds)
    time.sleep(SETTLE_SECONDS)
    left, _, units = units_sold(db, item_id)
    sold = units - units_before
    return {
        "buyers": len(emails),
        "stock": stock,
        **result,
        "oversold": max(0, sold - stock) + abs(stock - sold - left),
        "stock_left": left,
    }
