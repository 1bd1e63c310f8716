"""CSV files the store writes: cells safe to open in a spreadsheet, streamed in batches."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask import Response, stream_with_context

from app.models import utcnow

# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """Text for one CSV cell, with anything a spreadsheet would run as a formula
    turned back into text by a leading single quote (OWASP's CSV injection advice).
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(
    header: Iterable[str],
    rows: Iterable[Iterable[object]],
    *,
    bom: bool = False,
    batch: int = 500,
) -> Iterator[str]:
    """CSV text in batches of rows: an optional BOM (spreadsheets then read
    UTF-8), the header, then the rows, every cell neutralised against formulas.
    The rows are read as they are written, so a file of any size streams."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    if bom:
        buffer.write("\ufeff")
    writer.writerow(header)
    yield flush()
    for number, row in enumerate(rows, start=1):
        writer.writerow(csv_cell(cell) for cell in row)
        if number % batch == 0:
            yield flush()
    yield flush()


def csv_response(lines: Iterator[str], name: str) -> Response:
    """A streamed CSV download named `<name>-<UTC time>.csv`, never cached."""
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
