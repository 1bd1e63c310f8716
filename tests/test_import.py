"""CSV import (/items/import), its template, the export, and `flask import-items`.

Upload → a preview of every row and its problems, nothing written → Apply
writes every row in one transaction, or nothing. Hostile files (wrong
encodings, binary junk, huge files, formula injection) write nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.items import csv_io
from app.models import AuditEvent, Item, ItemImport, utcnow
from app.money import parse_amount
from tests.helpers import (
    PLAN_RE,
    TOKEN_RE,
    audit_events,
    count,
    csrf_token_from,
    db_state,
    forget_statistics,
    import_file,
    item_rows,
    press_apply,
    preview,
    set_item,
    sign_in,
    statistics_marks,
    upload,
)

HEADER = "name,description,price,stock\n"


# --- helpers ------------------------------------------------------------------------


def refused(client, content: bytes | str, message: str, status: int = 422) -> str:
    """Upload `content`: answered `status` with `message`, and nothing written."""
    before = db_state(client.application)
    response = upload(client, content)
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    assert message in html.replace("&#34;", '"').replace("&#39;", "'"), html
    assert "Apply all" not in html
    assert db_state(client.application) == before
    return html


def csv_text(*rows: tuple, header=("name", "description", "price", "stock")) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def read_csv(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


# --- the page --------------------------------------------------------------------------


def test_import_page_explains_the_format(client, admin):
    response = client.get("/items/import")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="file"' in html and 'type="file"' in html
    assert 'enctype="multipart/form-data"' in html
    assert 'href="/items/import/template.csv"' in html
    assert 'href="/items/export.csv"' in html
    assert "2 MB" in html and "5,000 rows" in html


def test_stock_page_links_to_import_and_export(client, admin):
    html = client.get("/items/manage").get_data(as_text=True)
    assert 'href="/items/import"' in html
    assert 'href="/items/export.csv"' in html


# --- the happy path -----------------------------------------------------------------------


def test_preview_lists_every_row_and_writes_nothing_then_apply_writes_all(
    app, client, admin, make_item
):
    lamp = make_item(name="Lamp", price_cents=1000, stock=4, description="Old")
    mug = make_item(name="Mug", price_cents=500, stock=9, description="Blue")
    content = csv_text(
        ("", "Walnut Tray", "Oiled.", "12.50", "7"),
        ("", "Cheap Pen", "", "0.29", "0"),
        (str(lamp), "Lamp", "Old", "10.50", "3"),
        (str(mug), "Mug", "Blue", "5.00", "9"),
        header=("id", "name", "description", "price", "stock"),
    )
    before = db_state(app)

    html = preview(client, content)
    assert db_state(app) == {**before, "imports": 1}  # only the file, kept for Apply
    for text in ("Walnut Tray", "Cheap Pen", "Lamp", "Mug"):
        assert text in html
    assert "2 to add, 1 to update, 1 unchanged" in html
    assert "price $10.00 → $10.50; stock 4 → 3" in html
    assert "Apply all 3 changes" in html

    response = press_apply(client, html)
    assert response.status_code == 302
    assert response.headers["Location"] == "/items/manage?sort=updated"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Imported items.csv: 2 added, 1 updated, 1 unchanged." in page

    rows = {row.name: row for row in item_rows(app)}
    assert (rows["Walnut Tray"].price_cents, rows["Walnut Tray"].stock) == (1250, 7)
    assert rows["Walnut Tray"].description == "Oiled."
    assert rows["Cheap Pen"].price_cents == 29  # not 28: Decimal, never a float
    assert (rows["Lamp"].price_cents, rows["Lamp"].stock) == (1050, 3)
    assert (rows["Mug"].price_cents, rows["Mug"].stock) == (500, 9)
    assert count(app, ItemImport) == 0  # applied: the stored file is gone

    # One event per added or changed item; the unchanged one has none.
    recorded = {(e.subject_id, e.action, e.actor_id) for e in audit_events(app)}
    assert recorded == {
        (rows["Walnut Tray"].id, "item.import", admin),
        (rows["Cheap Pen"].id, "item.import", admin),
        (lamp, "item.import", admin),
    }
    lamp_event = next(e for e in audit_events(app) if e.subject_id == lamp)
    assert json.loads(lamp_event.changes) == {
        "before": {"price_cents": 1000, "stock": 4},
        "after": {"price_cents": 1050, "stock": 3},
    }
    tray_event = next(
        e for e in audit_events(app) if e.subject_id == rows["Walnut Tray"].id
    )
    assert json.loads(tray_event.changes) == {
        "before": {},
        "after": {
            "name": "Walnut Tray",
            "description": "Oiled.",
            "price_cents": 1250,
            "stock": 7,
        },
    }


def test_a_large_import_gathers_the_planners_statistics(app, client, admin):
    """A bulk load through the import page leaves the planner knowing the new
    rows (ANALYZE after the commit); a handful of rows does not pay for it."""
    forget_statistics(app)
    before = statistics_marks(app)
    import_file(client, HEADER + "One Lamp,,1.00,1\n")
    assert statistics_marks(app).get("items") == before.get("items")
    rows = "".join(f"Lamp {n},,1.00,1\n" for n in range(csv_io.STATISTICS_ROWS))
    import_file(client, HEADER + rows)
    after = statistics_marks(app)
    assert "items" in after and after["items"] != before.get("items")


def test_apply_twice_imports_once(app, client, admin):
    html = preview(client, HEADER + "Lamp,,1.00,1\n")
    assert press_apply(client, html).status_code == 302
    again = press_apply(client, html)
    assert again.status_code == 302
    assert again.headers["Location"] == "/items/import"
    assert "applied already or has expired" in client.get("/items/import").get_data(
        as_text=True
    )
    assert [row.name for row in item_rows(app)] == ["Lamp"]
    assert count(app, AuditEvent) == 1


def test_columns_in_any_order_with_a_bom_crlf_and_blank_rows(app, client, admin):
    content = '\ufeffStock , PRICE,Name,Description\r\n\r\n3,2.5,Café crème,"Two\r\nlines, one cell"\r\n,,,\r\n'
    import_file(client, content.encode("utf-8"))
    ((_, name, description, price, stock, _),) = item_rows(app)
    assert (name, description, price, stock) == (
        "Café crème",
        "Two\r\nlines, one cell",
        250,
        3,
    )


def test_cells_are_trimmed_like_the_form_does(app, client, admin):
    import_file(client, HEADER + "  Lamp  ,  Bright  , 7.05 , 2 \n")
    ((_, name, description, price, stock, _),) = item_rows(app)
    assert (name, description, price, stock) == ("Lamp", "Bright", 705, 2)


def test_the_import_shares_the_item_forms_price_parser():
    assert csv_io.parse_amount is parse_amount
    assert parse_amount("0.29") == 29 and parse_amount("12.5") == 1250
    for bad in ("1.234", "-5", "abc", "1e3", "NaN", "١٢"):
        with pytest.raises(ValueError):
            parse_amount(bad)


# --- every problem, listed by row, writing nothing ------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Lamp,,1.234,1", "price: Enter an amount like 12.50"),
        ("Lamp,,abc,1", "price: Enter an amount like 12.50"),
        ("Lamp,,-5,1", "price: Enter an amount like 12.50"),
        ("Lamp,,1e3,1", "price: Enter an amount like 12.50"),
        ("Lamp,,$5,1", "price: Enter an amount like 12.50"),
        ("Lamp,,,1", "price: Enter a price, like 12.50."),
        ("Lamp,,1000000.01,1", "price: The most an item can cost is 1000000.00."),
        ("Lamp,,1.00,-1", "stock: Enter a whole number, 0 or more"),
        ("Lamp,,1.00,1.5", "stock: Enter a whole number, 0 or more"),
        ("Lamp,,1.00,abc", "stock: Enter a whole number, 0 or more"),
        ("Lamp,,1.00,", "stock: Enter how many are in stock."),
        ("Lamp,,1.00,1000001", "stock: Enter at most 1,000,000."),
        (",desc,1.00,1", "name: Give the item a name."),
        ("   ,desc,1.00,1", "name: Give the item a name."),
        ("x" * 201 + ",,1.00,1", "name: Use 1 to 200 characters for the name."),
        ("Lamp\x07,,1.00,1", "name: Remove the control characters"),
        ("Lamp," + "d" * 5001 + ",1.00,1", "description: Keep the description under"),
        ("Lamp,,1.00", "This row has 3 cells; the header has 4."),
        ("Lamp,,1.00,1,extra", "This row has 5 cells; the header has 4."),
    ],
)
def test_a_bad_row_is_listed_and_nothing_is_written(client, admin, row, message):
    content = HEADER + "Good Row,,1.00,1\n" + row + "\n"
    html = refused(client, content, message)
    assert "1 of 2 rows has problems, so nothing was imported" in html
    assert "Good Row" in html  # every row is listed, the good ones too


def test_every_problem_of_every_row_is_listed_at_once(client, admin):
    html = refused(
        client,
        HEADER + "Good,,1.00,1\n,,abc,-1\nAlso Good,,2.00,2\n",
        "name: Give the item a name.",
    )
    assert "price: Enter an amount like 12.50" in html
    assert "stock: Enter a whole number" in html
    assert "1 of 3 rows has problems" in html
    assert re.search(r'<td class="num">3</td>', html)  # the spreadsheet row number


def test_duplicate_names_in_the_file_are_refused_in_any_case(client, admin):
    html = refused(
        client,
        HEADER + "Lamp,,1.00,1\nMug,,1.00,1\nLAMP,,2.00,2\n",
        "is also on row 4.",
    )
    assert "is also on row 2." in html
    assert "2 of 3 rows have problems" in html


@pytest.mark.parametrize(
    ("item_id", "message"),
    [
        ("999", "id: There is no item 999."),
        ("abc", "id: Give the id of an existing item"),
        ("0", "id: Give the id of an existing item"),
        ("-3", "id: Give the id of an existing item"),
        ("2147483648", "id: Give the id of an existing item"),
        ("1.5", "id: Give the id of an existing item"),
    ],
)
def test_unknown_or_malformed_ids_are_refused(client, admin, item_id, message):
    content = csv_text(
        (item_id, "Lamp", "", "1.00", "1"),
        header=("id", "name", "description", "price", "stock"),
    )
    refused(client, content, message)


def test_an_archived_item_is_never_changed_by_an_import(client, admin, make_item):
    archived = make_item(name="Retired", archived=True)
    content = csv_text(
        (str(archived), "Retired", "", "1.00", "1"),
        header=("id", "name", "description", "price", "stock"),
    )
    refused(client, content, f"id: Item {archived} (“Retired”) is archived")


def test_the_same_id_twice_is_refused(client, admin, make_item):
    lamp = make_item(name="Lamp")
    content = csv_text(
        (str(lamp), "Lamp", "", "1.00", "1"),
        (str(lamp), "Lamp Two", "", "2.00", "1"),
        header=("id", "name", "description", "price", "stock"),
    )
    refused(client, content, f"id: Item {lamp} is also on row 3.")


def test_a_new_row_named_like_an_existing_item_is_refused(client, admin, make_item):
    lamp = make_item(name="Lamp")
    refused(
        client,
        HEADER + "Lamp,,1.00,1\n",
        f"An item called “Lamp” already exists (id {lamp}). Put {lamp} in the id",
    )


def test_renaming_an_item_frees_its_name_for_a_new_row(app, client, admin, make_item):
    lamp = make_item(name="Lamp", price_cents=100, stock=1, description="")
    content = csv_text(
        (str(lamp), "Old Lamp", "", "1.00", "1"),
        ("", "Lamp", "", "2.00", "2"),
        header=("id", "name", "description", "price", "stock"),
    )
    import_file(client, content)
    assert [(row.id, row.name) for row in item_rows(app)] == [
        (lamp, "Old Lamp"),
        (lamp + 1, "Lamp"),
    ]


# --- the header, the encoding, the size: the whole file refused --------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "The file is empty."),
        ("\ufeff", "The file is empty."),
        ("\n\n  \n", "The file is empty."),
        (HEADER, "The file has a header but no rows of items under it."),
        ("Lamp,Bright,12.50,3\n", "missing: name, description, price, stock"),
        ("name,price,stock\nLamp,1.00,1\n", "missing: description"),
        (
            "name,description,price,stock,colour\nLamp,,1.00,1,red\n",
            "not recognised: colour",
        ),
        (
            "name,description,price,stock,\nLamp,,1.00,1,\n",
            "not recognised: (unnamed column 5)",
        ),
        ("name,name,description,price,stock\nA,B,,1.00,1\n", "given twice: name"),
        ("name;description;price;stock\nLamp;;1.00;1\n", "missing: name, description"),
        (HEADER + 'Lamp,"unterminated,1.00,1\n', "is not valid CSV"),
        (HEADER + 'Lamp,"a"b,1.00,1\n', "Row 2 is not valid CSV"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(client, admin, content, message):
    refused(client, content, message)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            (HEADER + "Café,,1.00,1\n").encode("utf-16"),
            "The file is UTF-16 text, not UTF-8.",
            id="utf-16",
        ),
        pytest.param(
            (HEADER + "Café,,1.00,1\n").encode("utf-16-le"),
            "The file contains NUL bytes",
            id="utf-16-without-bom",
        ),
        pytest.param(
            (HEADER + "Café,,1.00,1\n").encode("latin-1"),
            "The file is not UTF-8 text (line 2",
            id="latin-1",
        ),
        pytest.param(
            (HEADER + "“Smart” Lamp,,1.00,1\n").encode("cp1252"),
            "The file is not UTF-8 text",
            id="windows-1252",
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n" + bytes(range(1, 256)) * 8,
            "The file is not UTF-8 text",
            id="binary-junk",
        ),
        pytest.param(
            b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64,
            "The file contains NUL bytes",
            id="xlsx-zip",
        ),
        pytest.param(
            (HEADER + "Lamp\x00,,1.00,1\n").encode(),
            "The file contains NUL bytes",
            id="nul",
        ),
    ],
)
def test_anything_but_utf8_is_refused_clearly(client, admin, content, message):
    refused(client, content, message)


def test_utf8_with_and_without_a_bom_is_accepted(app, client, admin):
    import_file(client, codecs.BOM_UTF8 + (HEADER + "Café,,1.00,1\n").encode())
    import_file(client, (HEADER + "Crème,,1.00,1\n").encode())
    assert [row.name for row in item_rows(app)] == ["Café", "Crème"]


def test_a_10_mb_file_is_refused_with_a_message_not_a_413(client, admin):
    big = HEADER + ("Lamp,x,1.00,1\n" * 800_000)
    assert len(big) > 10 * 2**20
    started = time.perf_counter()
    refused(client, big, "The file is larger than 2 MB.")
    assert time.perf_counter() - started < 20


def test_an_upload_beyond_the_request_limit_gets_the_413_page(app, client, admin):
    before = db_state(app)
    html = client.get("/items/import").get_data(as_text=True)
    response = client.post(
        "/items/import",
        data={
            "csrf_token": csrf_token_from(html),
            "file": (io.BytesIO(b"x" * (13 * 2**20)), "huge.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "That upload is larger than the store accepts." in response.get_data(
        as_text=True
    )
    assert db_state(app) == before


def test_100000_rows_are_refused_quickly(client, admin):
    content = HEADER + "".join(f"I{n},,1,1\n" for n in range(100_000))
    assert len(content) < csv_io.MAX_BYTES  # the row limit, not the size, refuses
    started = time.perf_counter()
    refused(client, content, "The file has more than 5,000 rows.")
    assert time.perf_counter() - started < 5


def test_5000_rows_are_accepted_and_applied_in_one_go(app, client, admin):
    content = HEADER + "".join(
        f"Item {n:04d},,1.{n % 100:02d},{n}\n" for n in range(5_000)
    )
    import_file(client, content)
    assert count(app, Item) == 5_000
    assert count(app, AuditEvent) == 5_000
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(Item.price_cents).where(Item.name == "Item 0142")
            )
            == 142
        )


def test_an_upload_without_a_file_is_a_form_error(app, client, admin):
    html = client.get("/items/import").get_data(as_text=True)
    response = client.post("/items/import", data={"csrf_token": csrf_token_from(html)})
    assert response.status_code == 422
    assert "Choose a CSV file." in response.get_data(as_text=True)
    text_field = client.post(
        "/items/import",
        data={"csrf_token": csrf_token_from(html), "file": "name,description\n"},
    )
    assert text_field.status_code == 422
    assert count(app, ItemImport) == 0


def test_an_upload_without_csrf_is_refused(app, client, admin):
    before = db_state(app)
    response = client.post(
        "/items/import",
        data={"file": (io.BytesIO(HEADER.encode() + b"Lamp,,1.00,1\n"), "a.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert db_state(app) == before


# --- hostile content ----------------------------------------------------------------------


def test_formulas_are_stored_as_text_and_neutralised_on_export(app, client, admin):
    formula = '=HYPERLINK("http://evil","x")'
    content = csv_text(
        (formula, "+cmd|' /C calc'!A0", "1.00", "1"),
        ("@SUM(1+1)", "-2+3", "2.00", "2"),
    )
    import_file(client, content)
    stored = {row.name: row.description for row in item_rows(app)}
    assert stored == {formula: "+cmd|' /C calc'!A0", "@SUM(1+1)": "-2+3"}

    exported = read_csv(client.get("/items/export.csv"))
    assert exported[1][1:3] == ["'" + formula, "'+cmd|' /C calc'!A0"]
    assert exported[2][1:3] == ["'@SUM(1+1)", "'-2+3"]
    for row in exported[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_hostile_names_are_escaped_in_the_preview(client, admin):
    html = refused(
        client,
        HEADER + '<script>alert(1)</script>,,abc,1\n"{{7*7}}-seven",<b>x</b>,1.00,1\n',
        "price: Enter an amount",
    )
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Rendered, the expression would read "49-seven"; a bare "49" can be a clock.
    assert "{{7*7}}-seven" in html and "49-seven" not in html


def test_a_hostile_filename_is_shown_as_text(client, admin):
    response = upload(
        client,
        HEADER + "Lamp,,abc,1\n",
        filename="<img src=x onerror=alert(1)>\x00.csv",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in html


# --- apply: all or none, against a store that may have moved on ------------------------------


def test_a_sale_after_the_preview_stops_the_apply(app, client, admin, make_item):
    lamp = make_item(name="Lamp", price_cents=1000, stock=5, description="")
    content = csv_text(
        ("", "New Thing", "", "3.00", "3"),
        (str(lamp), "Lamp", "", "12.00", "5"),
        header=("id", "name", "description", "price", "stock"),
    )
    html = preview(client, content)
    set_item(app, lamp, stock=4)  # somebody bought one meanwhile
    before = db_state(app)

    response = press_apply(client, html)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/items/import?token=")
    assert db_state(app) == before  # not even the new item
    fresh_preview = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The store changed since this preview" in fresh_preview
    assert "stock 4 → 5" in fresh_preview  # what applying would now do

    assert press_apply(client, fresh_preview).status_code == 302
    assert [(row.name, row.stock) for row in item_rows(app)] == [
        ("Lamp", 5),
        ("New Thing", 3),
    ]


def test_an_item_archived_after_the_preview_stops_the_apply(
    app, client, admin, make_item
):
    lamp = make_item(name="Lamp", price_cents=1000, stock=5, description="")
    content = csv_text(
        (str(lamp), "Lamp", "", "12.00", "5"),
        header=("id", "name", "description", "price", "stock"),
    )
    html = preview(client, content)
    set_item(app, lamp, archived_at=utcnow())
    before = db_state(app)
    response = press_apply(client, html)
    assert db_state(app) == before
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"id: Item {lamp} (“Lamp”) is archived" in page
    assert "Apply all" not in page


def test_a_tampered_plan_or_token_writes_nothing(app, client, admin):
    html = preview(client, HEADER + "Lamp,,1.00,1\n")
    before = db_state(app)
    assert press_apply(client, html, plan="0" * 64).status_code == 302
    for token in ("nope", "x" * 43, "a\x00" * 20, "' OR 1=1--", "é" * 30):
        response = press_apply(client, html, token=token)
        assert response.status_code == 302
        assert response.headers["Location"] == "/items/import"
    assert db_state(app) == before


def test_another_admin_cannot_use_my_import(app, client, admin, make_user):
    html = preview(client, HEADER + "Lamp,,1.00,1\n")
    token = TOKEN_RE.search(html).group(1)
    make_user("Other Admin", "other@example.com", is_admin=True)
    other = app.test_client()
    sign_in(other, "other@example.com")
    response = other.get(f"/items/import?token={token}")
    assert response.status_code == 302
    page = other.get("/items/import").get_data(as_text=True)
    assert (
        press_apply(
            other, html.replace(csrf_token_from(html), csrf_token_from(page))
        ).status_code
        == 302
    )
    assert count(app, Item) == 0


def test_an_import_expires_after_a_day(app, client, admin):
    html = preview(client, HEADER + "Lamp,,1.00,1\n")
    with app.app_context():
        db.session.execute(
            sa.update(ItemImport).values(
                created_at=utcnow() - timedelta(days=1, minutes=1)
            )
        )
        db.session.commit()
    response = press_apply(client, html)
    assert response.headers["Location"] == "/items/import"
    assert count(app, Item) == 0
    # The next upload clears expired files away.
    preview(client, HEADER + "Mug,,1.00,1\n")
    assert count(app, ItemImport) == 1


# --- export and template ----------------------------------------------------------------


def test_export_lists_items_on_sale_in_the_import_format(client, admin, make_item):
    second = make_item(
        name="Zebra Mug", price_cents=705, stock=0, description="Line\nbreak"
    )
    first = make_item(name="Apple, “quoted”", price_cents=1250, stock=3, description="")
    make_item(name="Retired", archived=True)
    response = client.get("/items/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="items-'
    )
    assert read_csv(response) == [
        ["id", "name", "description", "price", "stock"],
        [str(second), "Zebra Mug", "Line\nbreak", "7.05", "0"],
        [str(first), "Apple, “quoted”", "", "12.50", "3"],
    ]


def test_export_then_import_round_trips(app, client, admin, make_item):
    make_item(
        name="=Formula", price_cents=1999, stock=2, description='-minus, "q"\r\nok'
    )
    make_item(
        name="Plain", price_cents=0, stock=1_000_000, description="@home\tand away"
    )
    make_item(name="Ünïcödé ☕", price_cents=100_000_000, stock=0, description="")
    before = item_rows(app)
    exported = client.get("/items/export.csv").get_data()

    html = preview(client, exported)
    assert "0 to add, 0 to update, 3 unchanged" in html
    assert press_apply(client, html).status_code == 302
    assert item_rows(app) == before
    assert count(app, AuditEvent) == 0  # nothing changed, nothing recorded

    # Edited in a spreadsheet: one price changed, one row added.
    edited = (
        exported.decode("utf-8-sig").replace(",19.99,", ",21.00,") + ",New,,1.00,1\r\n"
    )
    import_file(client, edited)
    after = {row.name: row.price_cents for row in item_rows(app)}
    assert after == {
        "=Formula": 2100,
        "Plain": 0,
        "Ünïcödé ☕": 100_000_000,
        "New": 100,
    }


def test_the_template_downloads_and_imports(app, client, admin):
    response = client.get("/items/import/template.csv")
    assert response.status_code == 200
    rows = read_csv(response)
    assert rows[0] == ["id", "name", "description", "price", "stock"]
    assert rows[1][0] == "" and len(rows) == 2
    import_file(client, response.get_data())
    assert [row.name for row in item_rows(app)] == [rows[1][1]]


# --- who may import ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/items/import", "/items/import/template.csv", "/items/export.csv"]
)
def test_visitors_sign_in_and_shoppers_are_refused(app, make_user, url):
    anonymous = app.test_client()
    response = anonymous.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/users/login?next=")
    make_user(email="sam@example.com")
    shopper = app.test_client()
    sign_in(shopper, "sam@example.com")
    assert shopper.get(url).status_code == 403


def test_a_shopper_cannot_upload_or_apply(app, client, admin, make_user):
    html = preview(client, HEADER + "Lamp,,1.00,1\n")
    make_user(email="sam@example.com")
    shopper = app.test_client()
    sign_in(shopper, "sam@example.com")
    page = shopper.get("/items/").get_data(as_text=True)
    token = csrf_token_from(page)
    before = db_state(app)
    response = shopper.post(
        "/items/import",
        data={
            "csrf_token": token,
            "file": (io.BytesIO(HEADER.encode() + b"X,,1,1\n"), "a.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    applied = shopper.post(
        "/items/import",
        data={
            "csrf_token": token,
            "token": TOKEN_RE.search(html).group(1),
            "plan": PLAN_RE.search(html).group(1),
        },
    )
    assert applied.status_code == 403
    assert db_state(app) == before


# --- flask import-items --------------------------------------------------------------------


def write(tmp_path: Path, content: bytes | str) -> str:
    path = tmp_path / "items.csv"
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return str(path)


def test_cli_checks_without_writing(app, runner, tmp_path):
    result = runner.invoke(
        args=["import-items", write(tmp_path, HEADER + "Lamp,,1.00,1\n")]
    )
    assert result.exit_code == 0, result.output
    assert "1 rows: 1 to add, 0 to update, 0 unchanged." in result.output
    assert "run again with --apply" in result.output
    assert count(app, Item) == 0


def test_cli_apply_writes_every_row_with_audit_events(app, runner, tmp_path, make_item):
    lamp = make_item(name="Lamp", price_cents=100, stock=1, description="")
    content = csv_text(
        ("", "Mug", "", "2.50", "4"),
        (str(lamp), "Lamp", "", "1.50", "1"),
        header=("id", "name", "description", "price", "stock"),
    )
    result = runner.invoke(args=["import-items", write(tmp_path, content), "--apply"])
    assert result.exit_code == 0, result.output
    assert "Imported 1 new and 1 updated items" in result.output
    assert [(row.name, row.price_cents) for row in item_rows(app)] == [
        ("Lamp", 150),
        ("Mug", 250),
    ]
    assert [(e.action, e.actor_id) for e in audit_events(app)] == [
        ("item.import", None),
        ("item.import", None),
    ]


def test_cli_reports_every_problem_and_exits_1_writing_nothing(app, runner, tmp_path):
    path = write(tmp_path, HEADER + "Good,,1.00,1\nBad,,1.234,1\n,,abc,x\n")
    before = db_state(app)
    result = runner.invoke(args=["import-items", path, "--apply"])
    assert result.exit_code == 1
    assert "Row 3: price: Enter an amount like 12.50" in result.output
    assert "Row 4: name: Give the item a name." in result.output
    assert "Row 4: stock: Enter a whole number" in result.output
    assert "Nothing was imported" in result.output
    assert db_state(app) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            (HEADER + "Café,,1,1\n").encode("latin-1"),
            "File: The file is not UTF-8 text",
        ),
        (HEADER + "x,,1,1\n" * 5_001, "File: The file has more than 5,000 rows."),
        (b"x" * (csv_io.MAX_BYTES + 1), "File: The file is larger than 2 MB."),
        ("", "File: The file is empty."),
    ],
)
def test_cli_refuses_a_bad_file(app, runner, tmp_path, content, message):
    result = runner.invoke(args=["import-items", write(tmp_path, content), "--apply"])
    assert result.exit_code == 1
    assert message in result.output
    assert count(app, Item) == 0


def test_cli_needs_an_existing_file(runner, tmp_path):
    result = runner.invoke(args=["import-items", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
