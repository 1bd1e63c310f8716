"""`make bench`'s report: BENCHMARKS.md and docs/benchmarks.png from bench/results.json.

bench/run.py writes the results and calls this; run alone, it redraws both
from the results file:

    .venv/bin/python bench/report.py

The results hold what was measured; the targets each number is held to, the
ratios and the verdicts are worked out here. Their shape:

    run: date, cores, cpu, python, os, command, store {items, users, purchases},
         wrk {connections, seconds, rounds}, checkout {buyers, stock}
         (and source, for numbers carried over rather than measured)
    engines: {engine: {
        pages: {key: {label, path, server,
                      baseline (the key of the page its ratio is taken against:
                                "baseline" when absent, as in older results),
                      median {requests_per_s, p50_ms, p99_ms, errors},
                      rounds [the same, one per round]}},   baseline first
        checkout_loop, write_load_checkouts: {buyers, pause_ms, seconds,
                        requests_per_s, p50_ms, p99_ms, errors, turned_away,
                        completed_checkouts, completed_checkouts_per_s,
                        oversold} or null,
        last_units_race: {buyers, stock, completed_checkouts_per_s, buy_p50_ms,
                          buy_p99_ms, errors, sold, turned_away, oversold,
                          stock_left} or null,
        memory: {workers, largest_worker_mb}}}
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: bench/ is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS_JSON, ROOT, log

MARKDOWN = ROOT / "BENCHMARKS.md"
PLOT = ROOT / "docs" / "benchmarks.png"
# A label's asides, " (with Popular)", left out of the plot's short labels.
ASIDE_RE = re.compile(r" \([^()]*\)")


@dataclass(frozen=True)
class Target:
    """A ratio to beat: against the baseline, or against another page."""

    ratio: float
    against: str = "baseline"

    def __str__(self) -> str:
        return f"≥ {self.ratio} × {self.against}"


# Each page's requests/s ÷ the strict floor's (or its own baseline's), by the
# page's key in the results.
PAGE_TARGETS = {
    "catalogue": Target(0.9),
    "catalogue_deep": Target(0.8),
    "search": Target(0.9),
    "sort_price": Target(0.9),
    "item": Target(0.9),
    "item_returning": Target(0.9),
    "history": Target(0.5),
    "order": Target(0.5),
    "cart": Target(0.5),
    "admin_buyers": Target(0.7),
    "checkout": Target(0.5, "checkout baseline"),
    "admin_orders": Target(0.5, "order-list baseline"),
}
# The same pages with checkouts running beside them: held to the same targets.
for _key in ("catalogue", "catalogue_deep", "search", "sort_price", "item"):
    PAGE_TARGETS[f"{_key}_writes"] = PAGE_TARGETS[_key]
# The floor before the store kept a running total: a second ratio column.
COUNTING_FLOOR = "baseline_counting"
# Pages that older results lack: their rows say "—" until they are measured.
LATER_PAGES = {
    "checkout": "Checkout page (signed in, 3 items in the cart)",
    "admin_orders": "Admin: order list (newest 50, counts by status)",
}
# Issue 8: the item page always carries "Customers who bought this also
# bought", so the item page's runs answer for the block's own target too.
RECOMMENDATIONS = (
    "Item page with recommendations (best seller; the item page's own runs, "
    "block included)",
    Target(0.5),
)
SCALE_TARGET = Target(0.8, "1k")
CHECKOUT_LOOP = (
    "Checkout loop (wrk: signed-in buyers add to cart, open the checkout page, "
    "place the order; completed orders/s)",
    Target(0.25, "catalogue"),
)
LAST_UNITS_RACE = "Last units race (completed checkouts/s; p50/p99 of the buy)"
WRITE_LOAD_LABEL = (
    "Checkouts beside the reads (wrk: the three steps, while the rows "
    '"checkouts running beside" were measured)'
)
MEMORY_LABEL = "Memory: largest gunicorn worker (MB RSS)"
MEMORY_LIMIT_MB = 120


# --- results file ------------------------------------------------------------------


def load_results(path: Path = RESULTS_JSON) -> dict:
    return json.loads(path.read_text())


def save_results(results: dict, path: Path = RESULTS_JSON) -> None:
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    log(f"results written to {path.relative_to(ROOT)}")


# --- rows of an engine's table -----------------------------------------------------


def latency_ok(m: dict) -> bool:
    """No errors, and p99 within 5 × p50 (or under 5 ms)."""
    return m["errors"] == 0 and (m["p99_ms"] <= 5 * m["p50_ms"] or m["p99_ms"] < 5)


def row(
    label: str,
    m: dict | None,
    ratio: float | None,
    target=None,
    counting: float | None = None,
) -> dict:
    """A table row, its cells as printed: m holds requests_per_s, p50_ms,
    p99_ms and errors (None for a row that is a ratio alone); target is a
    Target to check the ratio against, or text to show. `ok` is None for a
    row with nothing measured."""
    ok = latency_ok(m) if m is not None else True
    if isinstance(target, Target):
        ok = ok and ratio is not None and ratio >= target.ratio
    return {
        "label": label,
        "rps": f"{m['requests_per_s']:.0f}" if m else "",
        "p50": f"{m['p50_ms']:.1f}" if m else "",
        "p99": f"{m['p99_ms']:.1f}" if m else "",
        "errors": str(int(m["errors"])) if m else "",
        "ratio": f"{ratio:.2f}" if ratio is not None else "",
        "counting": f"{counting:.2f}" if counting is not None else "",
        "target": str(target) if target else "",
        "ok": ok,
        "note": "",
    }


def not_measured_row(label: str, target) -> dict:
    """A page these results do not have: dashes, and neither met nor missed."""
    cells = dict.fromkeys(("rps", "p50", "p99", "errors", "ratio", "counting"), "—")
    return {**row(label, None, None, target), **cells, "ok": None}


def baseline_ratio(pages: dict[str, dict], page: dict) -> float | None:
    """The page's requests/s ÷ its baseline's (None without that baseline)."""
    baseline = pages.get(page.get("baseline", "baseline"))
    if baseline is None:
        return None
    return page["median"]["requests_per_s"] / baseline["median"]["requests_per_s"]


def page_rows(pages: dict[str, dict], items: int = 100_000) -> list[dict]:
    """A row per page, as a ratio to its baseline (the catalogue's, unless it
    has one of its own); the recommendations row after the item page; a row
    of dashes for each page older results lack; the catalogue at 100k items
    ÷ at 1k."""
    rows = []
    for key, page in pages.items():
        m, ratio = page["median"], baseline_ratio(pages, page)
        if ratio is None:
            rows.append(not_measured_row(page["label"], PAGE_TARGETS.get(key)))
            continue
        counting = None
        if page.get("baseline", "baseline") == "baseline" and COUNTING_FLOOR in pages:
            counting = m["requests_per_s"] / rps(pages, COUNTING_FLOOR)
        rows.append(row(page["label"], m, ratio, PAGE_TARGETS.get(key), counting))
        if key == "item":
            rows.append(row(RECOMMENDATIONS[0], m, ratio, RECOMMENDATIONS[1]))
    for key, label in LATER_PAGES.items():
        if key not in pages:
            rows.append(not_measured_row(label, PAGE_TARGETS[key]))
    scale = rps(pages, "catalogue") / rps(pages, "catalogue_1k")
    label = f"Catalogue page 1 at {items:,} items ÷ at 1,000 items"
    rows.append(row(label, None, scale, SCALE_TARGET))
    if "catalogue_drawn" in pages and "catalogue_1k_drawn" in pages:
        drawn = rps(pages, "catalogue_drawn") / rps(pages, "catalogue_1k_drawn")
        label = (
            f"Catalogue page 1 drawn on every view at {items:,} items ÷ at 1,000 items"
        )
        rows.append(row(label, None, drawn, SCALE_TARGET))
    return rows


def rps(pages: dict[str, dict], key: str) -> float:
    return pages[key]["median"]["requests_per_s"]


def checkout_loop_row(loop: dict, catalogue_rps: float) -> dict:
    """Requests/s of add to cart + checkout page + place the order, as a
    ratio to the catalogue's; its note gives completed checkouts/s."""
    per_s = loop["completed_checkouts_per_s"]
    label, target = CHECKOUT_LOOP
    r = row(label, loop, per_s / catalogue_rps, target)
    r["note"] = (
        f"req/s: the three steps, {loop['buyers']} buyers; {per_s:.0f} completed "
        f"orders/s; {loop['completed_checkouts']} bought, oversold {loop['oversold']}"
    )
    r["ok"] = r["ok"] and loop["oversold"] == 0
    return r


def write_load_row(loop: dict) -> dict:
    """The checkouts that ran beside the "checkouts running beside" rows: how
    busy the shop was, and that nothing was oversold meanwhile."""
    pause = loop.get("pause_ms")
    paced = f", {pause} ms between each one's orders" if pause else ", flat out"
    m = {key: loop[key] for key in ("requests_per_s", "p50_ms", "p99_ms", "errors")}
    note = (
        f"{loop['buyers']} buyers{paced}: "
        f"{loop['completed_checkouts_per_s']:.1f} completed orders/s, "
        f"{loop['completed_checkouts']} bought, oversold {loop['oversold']}"
    )
    ok = loop["errors"] == 0 and loop["oversold"] == 0
    return {**row(WRITE_LOAD_LABEL, m, None, "0 oversold"), "ok": ok, "note": note}


def last_units_race_row(race: dict) -> dict:
    """Completed checkouts/s while the last units go; met when nothing was
    oversold and no request failed."""
    m = {
        "requests_per_s": race["completed_checkouts_per_s"],
        "p50_ms": race["buy_p50_ms"],
        "p99_ms": race["buy_p99_ms"],
        "errors": race["errors"],
    }
    note = (
        f"{race['sold']} sold of {race['stock']}, {race['turned_away']} turned away, "
        f"oversold {race['oversold']}, stock left {race['stock_left']}"
    )
    ok = race["errors"] == 0 and race["oversold"] == 0
    return {**row(LAST_UNITS_RACE, m, None, "0 oversold"), "ok": ok, "note": note}


def memory_row(memory: dict) -> dict:
    largest = memory["largest_worker_mb"]
    return {
        **row(MEMORY_LABEL, None, None, f"< {MEMORY_LIMIT_MB} MB"),
        "ratio": f"{largest:.0f} MB" if largest is not None else "?",
        "ok": largest is not None and largest < MEMORY_LIMIT_MB,
        "note": f"{memory['workers']} workers",
    }


def engine_rows(result: dict) -> list[dict]:
    """Every row of one engine's table, in the order of the table."""
    pages = result["pages"]
    measured = result.get("measured") or {}
    rows = page_rows(pages, measured.get("store", {}).get("items", 100_000))
    if result.get("checkout_loop"):
        rows.append(checkout_loop_row(result["checkout_loop"], rps(pages, "catalogue")))
    if result.get("last_units_race"):
        rows.append(last_units_race_row(result["last_units_race"]))
    if result.get("write_load_checkouts"):
        rows.append(write_load_row(result["write_load_checkouts"]))
    rows.append(memory_row(result["memory"]))
    if "seed_seconds" in result:
        rows.append(
            {**row("`flask seed` of the large store (bulk inserts, then ANALYZE)",
                   None, None, "progress shown"),
             "ratio": f"{result['seed_seconds']:.0f} s", "ok": None}
        )  # fmt: skip
    return rows


# --- Markdown ---------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    head = (
        "| page | req/s | p50 ms | p99 ms | errors | ÷ strict floor | ÷ counting floor "
        "| target | met |\n"
    )
    head += "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n"
    body = ""
    for r in rows:
        met = "—" if r["ok"] is None else "yes" if r["ok"] else "**no**"
        note = f" ({r['note']})" if r["note"] else ""
        body += (
            f"| {r['label']}{note} | {r['rps']} | {r['p50']} | {r['p99']} | {r['errors']} "
            f"| {r['ratio']} | {r.get('counting', '')} | {r['target']} | {met} |\n"
        )
    return head + body


def engine_table(results: dict, engine: str) -> str:
    return table(engine_rows(results["engines"][engine]))


def preamble(run: dict) -> list[str]:
    """The lines above the tables: the machine, the store, how it was loaded."""
    store, wrk, checkout = run["store"], run["wrk"], run["checkout"]
    return [
        "# Benchmarks",
        "",
        f"`make bench` on {run['date']}, {run['cores']} cores ({run['cpu']}), "
        f"Python {run['python']}, {run['os']}.",
        f"Store: {store['items']:,} items, {store['users']:,} users, "
        f"{store['purchases']:,} purchase lines. wrk: {wrk['connections']} connections, "
        f"{wrk['seconds']} s a page, {wrk['rounds']} alternating rounds (medians shown). "
        "Every server runs under `gunicorn.conf.py` with the production config. "
        "The strict floor is a bare Flask view rendering the same catalogue page "
        "straight from the driver, read as the store reads it (the running total's "
        "row and 24 rows, one template); each page's requests/s ÷ the strict "
        "floor's is what the stack costs. The counting floor is the same view "
        "counting the live items on every view, as the floor did before the store "
        "kept a running total: the second column. The checkout page and "
        "the admin's order list each have a baseline of their own: a bare view "
        "running the queries that page needs, the cheapest way, signed in with the "
        "same session cookie.",
        "",
        f"Command: `{run['command']}`. Run it on an otherwise idle machine: wrk, the "
        "servers and the database share the cores. The checkout loop is wrk running "
        f"`bench/checkout.lua` with {checkout['buyers']} signed-in buyers, each looping "
        "add to cart, checkout page, place the order on its own connection: its req/s "
        "counts those three requests, its ratio is the completed orders/s ÷ the "
        f"catalogue's req/s. The last-units race is the same {checkout['buyers']} buyers "
        f"(Python threads) racing for {checkout['stock']} units: its req/s is completed "
        "checkouts/s, its p50/p99 the buy request's, and it checks that what was sold "
        "is exactly what there was.",
        "",
        "Where a target is missed, why, and what would close it: "
        "[docs/benchmarks.md](docs/benchmarks.md#where-the-targets-stand).",
        "",
        "![each page's throughput as a ratio to the baseline](docs/benchmarks.png)",
        "",
    ]


def markdown(results: dict) -> str:
    lines = preamble(results["run"])
    for engine, result in results["engines"].items():
        lines += [f"## {engine}", ""]
        if measured := result.get("measured"):
            store = measured["store"]
            lines += [
                f"Measured {measured['date']} with `{measured['command']}`: "
                f"{store['items']:,} items, {store['users']:,} users, "
                f"{store['purchases']:,} purchase lines"
                + ("" if result.get("vacuumed", True) or "postgresql" not in engine
                   else ", as `flask seed` left them (no VACUUM by the bench)")
                + ".",
                "",
            ]  # fmt: skip
        if COUNTING_FLOOR not in results["engines"][engine]["pages"]:
            lines += [
                "Measured before the strict floor was served: the baseline of "
                "these numbers counts the live items on every view, so the first "
                "ratio column is ÷ that counting floor, and the targets (set for "
                "the strict floor) are not theirs to meet.",
                "",
            ]
        lines += [engine_table(results, engine)]
    if results.get("locust"):
        lines += locust_section(results["locust"])
    return "\n".join(lines)


# --- make load: shoppers under Locust -----------------------------------------------

LOCUST_PLOT = ROOT / "docs" / "locust.png"


def locust_table(load: dict) -> str:
    """Per page: requests/s, p50/p95/p99 and failures; then what the buyers did."""
    head = "| page | requests | req/s | p50 ms | p95 ms | p99 ms | failures |\n"
    head += "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    body = ""
    for name, m in load["pages"].items():
        body += (
            f"| {name} | {m['requests']:,} | {m['requests_per_s']:.1f} | "
            f"{m['p50_ms']:.0f} | {m['p95_ms']:.0f} | {m['p99_ms']:.0f} | "
            f"{m['failures']} |\n"
        )
    failures = load["pages"].get("all", {}).get("failures", 0)
    verdict = "yes" if failures == 0 and load["oversold"] == 0 else "**no**"
    body += (
        f"\nOrders placed: {load['orders_placed']:,} "
        f"({load['orders_placed'] / load['seconds']:.1f}/s); turned away (the stock "
        f"went to another buyer first): {load['turned_away']:,}; oversold units: "
        f"{load['oversold']}; errors: {failures}. Zero errors and zero oversold: "
        f"{verdict}.\n"
    )
    return head + body


def locust_section(load: dict) -> list[str]:
    store = load["store"]
    return [
        "## Shoppers under Locust (`make load`)",
        "",
        f"{load['date']}: {load['users']} concurrent Locust users for "
        f"{load['seconds']} s on loopback (`bench/locustfile.py`: nine in ten "
        "browse the catalogue, search, sort and open items; one in ten signs in, "
        "adds an item, opens the cart and the checkout page and places the "
        "order), against gunicorn.conf.py's production settings "
        f"({load['workers']} workers) on PostgreSQL with Redis for the cache and "
        f"the sign-in limits. The store: {store['items']:,} items, "
        f"{store['users']:,} shoppers, {store['purchases']:,} purchase lines, "
        f"as `flask seed` leaves it (seeded in {load['seed_seconds']:.0f} s, no "
        "VACUUM).",
        "",
        *([load["note"], ""] if load.get("note") else []),
        "![requests/s and latency per page under Locust](docs/locust.png)",
        "",
        locust_table(load),
    ]


def plot_locust(load: dict, path: Path = LOCUST_PLOT) -> None:
    """p50/p95/p99 per page, with each page's requests/s in its label."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed: no plot (pip install -r requirements-bench.txt)")
        return
    pages = [(n, m) for n, m in load["pages"].items() if n != "all"]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(pages) + 2))
    for n, (key, colour) in enumerate(
        (("p50_ms", "tab:green"), ("p95_ms", "tab:orange"), ("p99_ms", "tab:red"))
    ):
        ax.barh([i + n * 0.27 for i in range(len(pages))],
                [m[key] for _, m in pages], 0.27, label=key[:3], color=colour)  # fmt: skip
    ax.set_yticks(
        [i + 0.27 for i in range(len(pages))],
        [f"{name} ({m['requests_per_s']:.0f}/s)" for name, m in pages],
    )
    ax.invert_yaxis()
    ax.set_xlabel("latency, ms")
    ax.set_title(
        f"{load['users']} Locust shoppers, {load['seconds']} s: latency per page"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)
    log(f"plot written to {path.relative_to(ROOT)}")


def write_markdown(results: dict, path: Path = MARKDOWN) -> None:
    path.write_text(markdown(results))
    log(f"{path.relative_to(ROOT)} written")


# --- plot -------------------------------------------------------------------------


def plotted_pages(results: dict) -> list[tuple[str, str, Target | None]]:
    """(key, short label, target) of the pages held to a baseline, or to no
    target, in the first engine's order; of the baselines, the catalogue's
    alone (each is 1.0 against itself)."""
    first = next(iter(results["engines"].values()))
    shown = []
    for key, page in first["pages"].items():
        if page.get("server") == "baseline" and key != "baseline":
            continue
        target = PAGE_TARGETS.get(key)
        if target is None or target.against.endswith("baseline"):
            # "Item page (best seller, …), checkouts running beside" → "Item
            # page, checkouts running beside": the asides go, the rest stays.
            shown.append((key, ASIDE_RE.sub("", page["label"]), target))
    return shown


def ratios(result: dict, keys: list[str]) -> list[float]:
    pages = result["pages"]
    return [
        (baseline_ratio(pages, pages[key]) or 0.0) if key in pages else 0.0
        for key in keys
    ]


def plot(results: dict, path: Path = PLOT) -> None:
    """Each page's throughput as a ratio to the baseline, with its target marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed: no plot (pip install -r requirements-bench.txt)")
        return
    engines = list(results["engines"])
    shown = plotted_pages(results)
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(shown) + 2))
    width = 0.8 / len(engines)
    for n, engine in enumerate(engines):
        ax.barh(
            [i + n * width for i in range(len(shown))],
            ratios(results["engines"][engine], [key for key, _, _ in shown]),
            width,
            label=engine,
        )
    for i, (_, _, target) in enumerate(shown):
        if target is not None:
            ax.plot([target.ratio, target.ratio], [i - 0.2, i + width * len(engines) - 0.2],
                    color="black", linewidth=2)  # fmt: skip
    ax.plot([], [], color="black", linewidth=2, label="target")
    ax.set_yticks(
        [i + width * (len(engines) - 1) / 2 for i in range(len(shown))],
        [label for _, label, _ in shown],
    )
    finish_plot(fig, ax, results["run"]["cores"], path)


def finish_plot(fig, ax, cores: int, path: Path) -> None:
    ax.invert_yaxis()
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel(
        "requests/s ÷ its baseline's (median of rounds; 1.0 = the raw-driver page)"
    )
    ax.set_title(f"Throughput per page against raw-driver baselines, {cores} cores")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")  # the legend below the axes too
    log(f"plot written to {path.relative_to(ROOT)}")


def write_report(results: dict) -> None:
    write_markdown(results)
    if results.get("engines"):
        plot(results)
    if results.get("locust"):
        plot_locust(results["locust"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "results",
        nargs="?",
        type=Path,
        default=RESULTS_JSON,
        help=f"results file (default {RESULTS_JSON.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the plot, not BENCHMARKS.md"
    )
    args = parser.parse_args()
    results = load_results(args.results)
    if args.plot_only:
        plot(results)
    else:
        write_report(results)


if __name__ == "__main__":
    main()
