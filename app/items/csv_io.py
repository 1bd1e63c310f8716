"""CSV import and export of items: read an upload, check every row, apply all or none.

Shared by the admin pages (app/items/transfer.py) and `flask import-items`.

The format is one header row naming the columns `name, description, price,
stock` in any order, plus an optional `id` column: a row with an id updates
that item, a row without one adds a new item. Prices are amounts like
`12.50` (the item form's own parser: Decimal, at most two decimals). The
export writes the same columns with the id, so an exported file imports
back unchanged; a cell the export neutralised against spreadsheet formulas
(a leading `'` before = + - @ tab CR) is read back without that quote.

Limits: 2 MB and 5,000 rows a file, UTF-8 only (with or without a BOM).
A file with any problem writes nothing; a clean file is applied in one
transaction, with one `item.import` audit event per added or changed item.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app.audit import events as audit
from app.csv_files import FORMULA_STARTS
from app.extensions import db
from app.forms import CONTROL_CHARACTERS, has_control_characters
from app.items.forms import (
    DESCRIPTION_LENGTH,
    NAME_LENGTH,
    NAME_REQUIRED,
    PRICE_REQUIRED,
    STOCK_REQUIRED,
)
from app.limits import DESCRIPTION_MAX, ITEM_NAME_MAX, MAX_ID, STOCK_MAX
from app.models import Item
from app.money import cents_to_decimal_text, parse_amount
from app.numbers import parse_whole_number, whole_number_or_none

COLUMNS = ("name", "description", "price", "stock")
EXPORT_COLUMNS = ("id", *COLUMNS)
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5_000
LOOKUP_CHUNK = 500  # ids or names per IN (...) lookup
TEMPLATE_ROWS = (("Walnut Tray", "Oiled walnut, 30 × 20 cm.", "12.50", "7"),)
SAVE_AS_UTF8 = "Save it as “CSV UTF-8” and upload it again."


class FileProblem(Exception):
    """The file as a whole cannot be read; the message is for the admin."""


class Conflict(Exception):
    """An item changed between the check and the write (the caller rolls back)."""


@dataclass
class Row:
    """One data row: its cells as given, the item values they mean, and problems."""

    number: int  # as a spreadsheet numbers it: the header is row 1
    cells: dict[str, str]
    item_id: int | None = None
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # For an update: the changed fields only, as they are and as they will be.
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if self.problems:
            return "problem"
        if self.item_id is None:
            return "add"
        return "update" if self.after else "unchanged"


@dataclass
class Check:
    """The outcome of checking a file: every row, or the file's one problem."""

    rows: list[Row] = field(default_factory=list)
    problem: str | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None and not any(row.problems for row in self.rows)

    def count(self, kind: str) -> int:
        return sum(1 for row in self.rows if row.kind == kind)

    @property
    def digest(self) -> str:
        """What applying would do; the Apply button carries it, so a store that
        changed since the preview is noticed instead of silently overwritten."""
        plan = [(r.number, r.item_id, r.values, r.before) for r in self.rows]
        text = json.dumps(plan, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def report(self) -> Iterator[str]:
        """One line per problem, for the command line."""
        if self.problem:
            yield f"File: {self.problem}"
        for row in self.rows:
            for problem in row.problems:
                yield f"Row {row.number}: {problem}"


@dataclass(frozen=True)
class Applied:
    added: int
    updated: int
    unchanged: int


# --- reading the file ------------------------------------------------------------


def decode(data: bytes) -> str:
    """The upload as text: UTF-8 with or without a BOM, within the size limit."""
    if len(data) > MAX_BYTES:
        raise FileProblem(
            f"The file is larger than {MAX_BYTES // 2**20} MB. Split it into "
            f"files of at most {MAX_ROWS:,} rows and upload them one at a time."
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileProblem(f"The file is UTF-16 text, not UTF-8. {SAVE_AS_UTF8}")
    if b"\x00" in data:
        raise FileProblem(
            "The file contains NUL bytes, so it is not a CSV text file "
            f"(it may be a spreadsheet or UTF-16). {SAVE_AS_UTF8}"
        )
    try:
        text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise FileProblem(
            f"The file is not UTF-8 text (line {line} has bytes that UTF-8 does "
            "not allow; Latin-1, Windows-1252 and other encodings are refused). "
            + SAVE_AS_UTF8
        ) from None
    if not text.strip():
        raise FileProblem("The file is empty.")
    return text


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for each CSV record, the header being row 1."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            yield number, record
    except csv.Error as error:
        raise FileProblem(
            f"Row {number + 1} is not valid CSV ({error}). Check its quotes: a "
            'cell with a comma, quote or line break is written "like, this".'
        ) from None


def _header(cells: list[str]) -> list[str]:
    header = [cell.strip().lower() for cell in cells]
    missing = [column for column in COLUMNS if column not in header]
    unknown = [
        cell or f"(unnamed column {n})"
        for n, cell in enumerate(header, start=1)
        if cell not in EXPORT_COLUMNS
    ]
    twice = sorted({cell for cell in header if cell and header.count(cell) > 1})
    if missing or unknown or twice:
        details = []
        if missing:
            details.append("missing: " + ", ".join(missing))
        if unknown:
            details.append("not recognised: " + ", ".join(unknown))
        if twice:
            details.append("given twice: " + ", ".join(twice))
        raise FileProblem(
            "The first row must be the header naming the columns "
            f"{', '.join(COLUMNS)} (and id, to update existing items); "
            + "; ".join(details)
            + ". Download the template to start from."
        )
    return header


def read(text: str) -> tuple[list[str], list[Row]]:
    """The header and the data rows (blank rows skipped), within the row limit."""
    records = _records(text)
    first = next(records, None)
    if first is None:
        raise FileProblem("The file is empty.")
    header = _header(first[1])
    rows: list[Row] = []
    for number, record in records:
        if not any(cell.strip() for cell in record):
            continue
        if len(rows) == MAX_ROWS:
            raise FileProblem(
                f"The file has more than {MAX_ROWS:,} rows. Split it into files "
                f"of at most {MAX_ROWS:,} rows and upload them one at a time."
            )
        row = Row(number=number, cells=dict(zip(header, record, strict=False)))
        if len(record) != len(header):
            row.problems.append(
                f"This row has {len(record)} cells; the header has {len(header)}."
            )
        rows.append(row)
    if not rows:
        raise FileProblem("The file has a header but no rows of items under it.")
    return header, rows


# --- checking each row -------------------------------------------------------------


def _text(raw: str | None) -> str:
    """A cell as the item will hold it: the export's anti-formula quote removed."""
    text = raw or ""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        text = text[1:]
    return text.strip()


def _check_cells(row: Row, has_id: bool) -> None:
    """Fill row.values and row.item_id from the cells, or add the problems."""
    cells, problems = row.cells, row.problems
    name = _text(cells.get("name"))
    if not name:
        problems.append(f"name: {NAME_REQUIRED}")
    elif len(name) > ITEM_NAME_MAX:
        problems.append(f"name: {NAME_LENGTH} This one has {len(name):,}.")
    elif has_control_characters(name):
        problems.append(f"name: {CONTROL_CHARACTERS}")
    else:
        row.values["name"] = name

    description = _text(cells.get("description"))
    if len(description) > DESCRIPTION_MAX:
        problems.append(f"description: {DESCRIPTION_LENGTH}")
    elif has_control_characters(description, allow="\r\n\t"):
        problems.append(f"description: {CONTROL_CHARACTERS}")
    else:
        row.values["description"] = description

    for column, key, parse, required in (
        ("price", "price_cents", parse_amount, PRICE_REQUIRED),
        (
            "stock",
            "stock",
            lambda text: parse_whole_number(text, STOCK_MAX),
            STOCK_REQUIRED,
        ),
    ):
        text = (cells.get(column) or "").strip()
        if not text:
            problems.append(f"{column}: {required}")
            continue
        try:
            row.values[key] = parse(text)
        except ValueError as error:
            problems.append(f"{column}: {error}")

    text = (cells.get("id") or "").strip() if has_id else ""
    if text:
        item_id = whole_number_or_none(text)
        if item_id is not None and 1 <= item_id <= MAX_ID:
            row.item_id = item_id
        else:
            problems.append(
                "id: Give the id of an existing item (a whole number, as in the "
                "export), or leave it empty to add a new item."
            )


def _mark_repeats(rows: list[Row], key, what: str) -> None:
    """Flag every row whose key (a name, an id) another row has too."""
    seen: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        value = key(row)
        if value is not None:
            seen[value].append(row)
    for group in seen.values():
        for row in group if len(group) > 1 else ():
            others = ", ".join(str(r.number) for r in group if r is not row)
            row.problems.append(what.format(row=row) + f" is also on row {others}.")


def _in_chunks(values: Iterable) -> Iterator[list]:
    values = sorted(set(values))
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


def _existing(ids: Iterable[int], lock: bool) -> dict[int, Item]:
    """The file's items by id; locked until commit when about to write them."""
    found: dict[int, Item] = {}
    for chunk in _in_chunks(ids):
        select = sa.select(Item).where(Item.id.in_(chunk))
        if lock:
            select = select.with_for_update()
        found.update((item.id, item) for item in db.session.scalars(select))
    return found


def _named(names: Iterable[str]) -> dict[str, list[tuple[int, bool]]]:
    """Existing items with exactly these names: name → [(id, archived)]."""
    found: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for chunk in _in_chunks(names):
        for item_id, name, archived_at in db.session.execute(
            sa.select(Item.id, Item.name, Item.archived_at).where(Item.name.in_(chunk))
        ):
            found[name].append((item_id, archived_at is not None))
    return found


def check(data: bytes | str, *, lock: bool = False) -> Check:
    """Read and check a whole file against the store; writes nothing.

    `lock=True` (inside the write transaction that applies it) locks the
    items the file updates, so the check still holds when they are written.
    """
    try:
        text = data if isinstance(data, str) else decode(data)
        header, rows = read(text)
    except FileProblem as problem:
        return Check(problem=str(problem))

    for row in rows:
        _check_cells(row, has_id="id" in header)
    _mark_repeats(
        rows,
        lambda r: r.values["name"].casefold() if "name" in r.values else None,
        "name: “{row.values[name]}”",
    )
    _mark_repeats(rows, lambda r: r.item_id, "id: Item {row.item_id}")

    existing = _existing((r.item_id for r in rows if r.item_id), lock)
    for row in rows:
        if row.item_id is None:
            continue
        item = existing.get(row.item_id)
        if item is None:
            row.problems.append(
                f"id: There is no item {row.item_id}. Leave the id empty to add "
                "a new item."
            )
        elif item.is_archived:
            row.problems.append(
                f"id: Item {item.id} (“{item.name}”) is archived; an import "
                "never changes archived items. Restore it first."
            )
        elif not row.problems:
            changes = audit.diff(audit.item_values(item), row.values)
            if changes:
                row.before, row.after = changes["before"], changes["after"]

    # A new row named exactly like an item the file does not rename is most
    # likely the same file imported twice.
    updated = {row.item_id for row in rows if row.item_id}
    named = _named(row.values["name"] for row in rows if "name" in row.values)
    for row in rows:
        if row.item_id is not None or "name" not in row.values:
            continue
        for item_id, archived in named.get(row.values["name"], ()):
            if item_id in updated:
                continue
            state = ", archived," if archived else ""
            row.problems.append(
                f"name: An item called “{row.values['name']}” already "
                f"exists{state} (id {item_id}). Put {item_id} in the id column "
                "to update it, or choose another name."
            )
            break
    return Check(rows=rows, text=text)


# --- writing --------------------------------------------------------------------------


# An import of this many rows or more is a bulk load: the planner's statistics
# for items are gathered again after it (a handful of edits need not pay that).
STATISTICS_ROWS = 200


def needs_statistics(applied: Applied) -> bool:
    return applied.added + applied.updated >= STATISTICS_ROWS


def apply(checked: Check) -> Applied:
    """Write every row of a clean check, with its audit events; the caller
    began the write transaction (checking with lock=True) and commits it."""
    if not checked.ok:
        raise ValueError("a file with problems is never applied")
    adds = [row for row in checked.rows if row.kind == "add"]
    updates = [row for row in checked.rows if row.kind == "update"]
    new_items = [Item(**row.values) for row in adds]
    db.session.add_all(new_items)
    db.session.flush()  # the new ids, for the audit trail
    for row in updates:
        # Only if the item still holds what the check saw (belt and braces
        # beside the row locks: nothing is overwritten unseen).
        result = db.session.execute(
            sa.update(Item)
            .where(
                Item.id == row.item_id,
                Item.archived_at.is_(None),
                *(getattr(Item, key) == value for key, value in row.before.items()),
            )
            .values(**row.after)
        )
        if result.rowcount != 1:
            raise Conflict(f"item {row.item_id} changed while importing")
    audit.record_many(
        "item.import",
        [(item.id, {}, row.values) for item, row in zip(new_items, adds, strict=True)]
        + [(row.item_id, row.before, row.after) for row in updates],
    )
    return Applied(
        added=len(adds),
        updated=len(updates),
        unchanged=checked.count("unchanged"),
    )


# --- the export and the template -----------------------------------------------------


def export_rows() -> Iterator[tuple[object, ...]]:
    """Every item on sale, by id, in the import's columns. Archived items are
    left out: an import never changes them, so the file imports back as is."""
    select = (
        sa.select(Item.id, Item.name, Item.description, Item.price_cents, Item.stock)
        .where(Item.archived_at.is_(None))
        .order_by(Item.id)
        .execution_options(yield_per=1_000)
    )
    for item_id, name, description, price_cents, stock in db.session.execute(select):
        yield item_id, name, description, cents_to_decimal_text(price_cents), stock


def template_rows() -> Iterator[tuple[object, ...]]:
    """An example row with an empty id (a new item)."""
    for row in TEMPLATE_ROWS:
        yield ("", *row)
