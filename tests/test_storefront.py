"""The storefront as search engines and slow networks see it, and the shop's
own pages: compression, versioned static files and their cache, no-store only
on private pages, descriptions, canonical links, Product data, the sitemap,
robots.txt, the content pages an admin edits, and the stock shown."""

from __future__ import annotations

import gzip
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import brotli
import pytest
import sqlalchemy as sa

from app import main as main_views
from app.content import PAGES, render_body, summary
from app.extensions import db
from app.limits import LOW_STOCK_SHOWN, META_DESCRIPTION_MAX, PAGE_BODY_MAX
from app.models import AuditEvent, ContentPage
from app.seo import json_for_script
from app.static_files import build, hashed_name
from tests.helpers import (
    audit_events,
    client_for,
    get_html,
    html_of,
    post_form,
    set_item,
    sign_in,
)

DESCRIPTION_RE = re.compile(r'<meta name="description" content="([^"]*)">')
CANONICAL_RE = re.compile(r'<link rel="canonical" href="([^"]*)">')
STYLESHEET_RE = re.compile(r'<link rel="stylesheet" href="([^"]+)">')
JSON_LD_RE = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)
SITEMAP_NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
STORE_URL = "http://store.test"  # TestingConfig's


def description_of(html: str) -> str:
    found = DESCRIPTION_RE.findall(html)
    assert len(found) == 1, found
    return found[0]


def canonical_of(html: str) -> str | None:
    found = CANONICAL_RE.findall(html)
    assert len(found) <= 1, found
    return found[0] if found else None


def page_rows(app) -> dict[str, tuple[str, str]]:
    with app.app_context():
        return {
            page.slug: (page.title, page.body)
            for page in db.session.scalars(sa.select(ContentPage))
        }


# --- compression ---------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding, decompress",
    [("br", brotli.decompress), ("gzip", gzip.decompress)],
)
def test_pages_are_compressed_when_the_browser_accepts_it(
    client, make_items, encoding, decompress
):
    make_items(24)
    plain = client.get("/items/")
    assert "Content-Encoding" not in plain.headers
    squeezed = client.get("/items/", headers={"Accept-Encoding": encoding})
    assert squeezed.status_code == 200
    assert squeezed.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in squeezed.headers["Vary"]
    body = decompress(squeezed.get_data())
    # The same page; only its forms' CSRF tokens (signed with the second they
    # were drawn in) may differ.
    assert without_tokens(body) == without_tokens(plain.get_data())
    assert len(squeezed.get_data()) < len(body) / 3


def without_tokens(html: bytes) -> bytes:
    return re.sub(rb'name="csrf_token" value="[^"]*"', b"", html)


# --- static files ----------------------------------------------------------------


def test_pages_link_static_files_by_their_content_hash_with_a_year_of_cache(client):
    html = get_html(client, "/items/")
    sheets = STYLESHEET_RE.findall(html)
    assert sheets, "no stylesheet linked"
    for url in sheets:
        assert re.fullmatch(r"/static/[\w/.-]+\.[0-9a-f]{12}\.css", url), url
        response = client.get(url)
        assert response.status_code == 200
        cache = response.headers["Cache-Control"]
        max_age = int(re.search(r"max-age=(\d+)", cache).group(1))
        assert max_age >= 365 * 24 * 3600
        assert "immutable" in cache and "public" in cache
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Access-Control-Allow-Origin" not in response.headers
        squeezed = client.get(url, headers={"Accept-Encoding": "br"})
        assert squeezed.headers["Content-Encoding"] == "br"
        assert brotli.decompress(squeezed.get_data()) == response.get_data()


def test_a_static_file_by_its_plain_name_gets_a_short_cache(client):
    response = client.get("/static/css/store.css")
    assert response.status_code == 200
    assert "immutable" not in response.headers["Cache-Control"]


def test_a_changed_file_gets_a_new_name_and_the_old_copy_stays(tmp_path: Path):
    source, built = tmp_path / "static", tmp_path / "built"
    (source / "css").mkdir(parents=True)
    sheet = source / "css" / "site.css"
    sheet.write_text("body { color: black; }" * 50)
    first = build(source, built)["css/site.css"]
    sheet.write_text("body { color: navy; }" * 50)
    second = build(source, built)["css/site.css"]
    assert first != second
    assert first == hashed_name(
        "css/site.css", ("body { color: black; }" * 50).encode()
    )
    assert (built / first).read_text().startswith("body { color: black; }")
    assert (built / second).read_text().startswith("body { color: navy; }")
    assert (
        gzip.decompress((built / (second + ".gz")).read_bytes()) == sheet.read_bytes()
    )
    assert (
        brotli.decompress((built / (second + ".br")).read_bytes()) == sheet.read_bytes()
    )


def test_unknown_static_files_and_paths_outside_static_are_404(client):
    for url in ("/static/css/store.000000000000.css", "/static/../config.py"):
        assert client.get(url).status_code == 404, url


# --- what the browser may keep ------------------------------------------------------


def test_public_pages_may_be_kept_for_back_and_forward_private_ones_never(
    client, make_item, make_user
):
    item = make_item(name="Lamp")
    for url in (
        "/items/",
        f"/items/{item}",
        "/items/?q=lamp",
        "/pages/returns",
        "/users/login",
        "/users/register",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "private, no-cache", url
    for url in ("/purchases/cart", "/no-such-page"):
        assert client.get(url).headers["Cache-Control"] == "no-store", url
    make_user(name="Sam Shopper", email="sam@example.com")
    sign_in(client, "sam@example.com")
    for url in (
        "/purchases/cart",
        "/purchases/",
        "/users/account",
        "/purchases/checkout",
    ):
        response = client.get(url)
        assert response.headers["Cache-Control"] == "no-store", url
    # The catalogue stays public for a shopper; an admin's item page shows
    # its buyers, so every page of an admin is private.
    assert client.get("/items/").headers["Cache-Control"] == "private, no-cache"
    make_user(name="Ada Admin", email="ada@example.com", is_admin=True)
    admin = client_for(client.application, "ada@example.com")
    for url in (
        "/items/",
        f"/items/{item}",
        "/items/manage",
        "/pages/",
        "/pages/about/edit",
        "/purchases/orders/",
    ):
        assert admin.get(url).headers["Cache-Control"] == "no-store", url


# --- descriptions, canonical links, Open Graph, Product data ---------------------------


def test_every_public_page_has_its_own_description_and_an_absolute_canonical(
    client, make_item
):
    lamp = make_item(
        name="Brass Lamp",
        description="A heavy brass lamp, 40 cm tall, with a linen shade.",
    )
    mug = make_item(name="Mug", description="")
    urls = [
        "/items/",
        "/items/?page=1",
        "/items/?q=lamp",
        f"/items/{lamp}",
        f"/items/{mug}",
        "/users/login",
        "/users/register",
        "/users/password/forgot",
    ] + [f"/pages/{slug}" for slug in PAGES]
    descriptions = {}
    for url in urls:
        html = get_html(client, url)
        description = description_of(html)
        assert len(description) >= 20, url
        assert len(description) <= META_DESCRIPTION_MAX + 60, url
        descriptions[url] = description
        canonical = canonical_of(html)
        assert canonical and canonical.startswith(STORE_URL + "/"), url
        assert f'<meta property="og:url" content="{canonical}">' in html
        assert '<meta property="og:title"' in html
    assert canonical_of(get_html(client, "/items/?page=1")) == STORE_URL + "/items/"
    assert (
        canonical_of(get_html(client, "/items/?q=lamp")) == STORE_URL + "/items/?q=lamp"
    )
    assert (
        canonical_of(get_html(client, f"/items/{lamp}")) == f"{STORE_URL}/items/{lamp}"
    )
    assert descriptions[f"/items/{lamp}"].startswith("A heavy brass lamp")
    assert "Mug" in descriptions[f"/items/{mug}"]
    assert len(set(descriptions.values())) == len(urls) - 1  # page=1 is the catalogue


def test_private_and_error_pages_have_no_canonical_and_ask_not_to_be_indexed(client):
    for url in ("/purchases/cart", "/no-such-page", "/items/999999"):
        html = html_of(client.get(url))
        assert canonical_of(html) is None, url
        assert '<meta name="robots" content="noindex">' in html, url


def test_an_item_page_carries_schema_org_product_data(client, make_item):
    lamp = make_item(name="Brass Lamp", price_cents=123456, stock=4)
    gone = make_item(name="Kettle", price_cents=2995, stock=0)
    data = json.loads(JSON_LD_RE.search(get_html(client, f"/items/{lamp}")).group(1))
    assert data["@type"] == "Product" and data["name"] == "Brass Lamp"
    assert data["url"] == f"{STORE_URL}/items/{lamp}"
    assert data["offers"] == {
        "@type": "Offer",
        "url": f"{STORE_URL}/items/{lamp}",
        "price": "1234.56",
        "priceCurrency": "USD",
        "availability": "https://schema.org/InStock",
    }
    data = json.loads(JSON_LD_RE.search(get_html(client, f"/items/{gone}")).group(1))
    assert data["offers"]["availability"] == "https://schema.org/OutOfStock"
    assert 'content="product"' in get_html(client, f"/items/{gone}")


def test_an_item_with_pictures_names_them_in_its_product_data_and_og_image(
    app, client, make_item
):
    """Each picture's largest JPEG copy, as an absolute URL that serves it; an
    item without pictures names none."""
    from tests.helpers import add_picture

    lamp = make_item(name="Brass Lamp")
    bare = make_item(name="Kettle")
    _, key = add_picture(app, lamp, alt="The lamp, lit")
    html = get_html(client, f"/items/{lamp}")
    data = json.loads(JSON_LD_RE.search(html).group(1))
    [image] = data["image"]
    assert image.startswith(f"{STORE_URL}/media/{key}-") and image.endswith(".jpg")
    assert f'<meta property="og:image" content="{image}">' in html
    served = client.get(image.removeprefix(STORE_URL))
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    bare_html = get_html(client, f"/items/{bare}")
    assert "image" not in json.loads(JSON_LD_RE.search(bare_html).group(1))
    assert "og:image" not in bare_html


@pytest.mark.parametrize(
    "text",
    [
        '"onmouseover=x',
        "ends with a backslash \\",
        'a \\"quoted\\" one',
        "</script>",
        "it's & <b>",
    ],
)
def test_json_for_script_reads_back_alike_with_nothing_html_reads(text):
    data = {"name": text, "nested": {"list": [text, 1, None]}}
    written = str(json_for_script(data))
    assert json.loads(written) == data
    assert not set("<>&'") & set(written)
    if '"' in text:
        assert "\\u0022" in written


def test_product_data_cannot_close_its_script(client, make_item):
    item = make_item(
        name='</script><script>alert(1)</script>"onmouseover=',
        description="<!-- & -->",
    )
    html = get_html(client, f"/items/{item}")
    block = JSON_LD_RE.search(html).group(1)
    assert "<" not in block and ">" not in block
    assert (
        json.loads(block)["name"] == '</script><script>alert(1)</script>"onmouseover='
    )
    assert '"onmouseover=' not in html
    assert "<script>alert(1)" not in html


# --- the sitemap and robots.txt ----------------------------------------------------------


def sitemap_locs(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, url
    assert response.mimetype == "application/xml"
    root = ET.fromstring(response.get_data())
    return [loc.text for loc in root.iterfind(".//s:loc", SITEMAP_NS)]


def test_the_sitemap_lists_the_pages_and_every_live_item(client, make_item):
    live = [make_item(name=f"Live {n}") for n in range(3)]
    archived = make_item(name="Old", archived=True)
    files = sitemap_locs(client, "/sitemap.xml")
    assert files == [
        f"{STORE_URL}/sitemap-pages.xml",
        f"{STORE_URL}/sitemap-items-1.xml",
    ]
    pages = sitemap_locs(client, "/sitemap-pages.xml")
    assert pages == [f"{STORE_URL}/items/"] + [f"{STORE_URL}/pages/{s}" for s in PAGES]
    items = sitemap_locs(client, "/sitemap-items-1.xml")
    assert items == [f"{STORE_URL}/items/{item}" for item in live]
    assert f"{STORE_URL}/items/{archived}" not in items
    assert client.get("/sitemap-items-2.xml").status_code == 404
    assert client.get("/sitemap-items-0.xml").status_code == 404


def test_the_sitemap_splits_its_items_into_files_and_stops_at_its_cap(
    client, make_items, monkeypatch
):
    ids = make_items(7)
    monkeypatch.setattr(main_views, "SITEMAP_URLS_MAX", 3)
    monkeypatch.setattr(main_views, "SITEMAP_ITEMS_MAX", 5)
    files = sitemap_locs(client, "/sitemap.xml")
    assert files[1:] == [f"{STORE_URL}/sitemap-items-{n}.xml" for n in (1, 2)]
    listed = sitemap_locs(client, "/sitemap-items-1.xml") + sitemap_locs(
        client, "/sitemap-items-2.xml"
    )
    assert listed == [f"{STORE_URL}/items/{item}" for item in ids[:5]]
    assert client.get("/sitemap-items-3.xml").status_code == 404


def test_robots_txt_keeps_crawlers_out_of_private_pages_and_names_the_sitemap(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for path in ("/purchases/", "/users/", "/audit/", "/items/*/edit"):
        assert f"Disallow: {path}\n" in text
    assert "Disallow: /items/\n" not in text
    # Sign-in and sign-up are public pages, open to crawlers.
    assert "Allow: /users/login\n" in text and "Allow: /users/register\n" in text
    assert f"Sitemap: {STORE_URL}/sitemap.xml" in text


# --- the shop's own pages ----------------------------------------------------------------


def test_the_footer_links_every_content_page_and_each_answers(client):
    html = get_html(client, "/items/")
    footer = html.split('<footer class="site-footer">')[1]
    for slug in PAGES:
        assert f'href="/pages/{slug}"' in footer
        page = get_html(client, f"/pages/{slug}")
        assert f"<h1>{page_rows(client.application)[slug][0]}</h1>" in page
    assert client.get("/pages/nope").status_code == 404
    assert client.get("/pages/../config.py").status_code == 404


def test_an_admin_edits_a_page_and_the_change_is_audited(app, client, admin):
    before = page_rows(app)
    response = post_form(
        client,
        "/pages/returns/edit",
        {
            "title": "Returns and refunds",
            "body": "Send it back within 60 days.\n\n- Unused\n- In its box",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/pages/returns"
    after = page_rows(app)
    assert after["returns"] == (
        "Returns and refunds",
        "Send it back within 60 days.\n\n- Unused\n- In its box",
    )
    assert {k: v for k, v in after.items() if k != "returns"} == {
        k: v for k, v in before.items() if k != "returns"
    }
    html = get_html(client, "/pages/returns")
    assert "<p>Send it back within 60 days.</p>" in html
    assert "<ul><li>Unused</li><li>In its box</li></ul>" in html
    [event] = audit_events(app)
    assert (event.action, event.subject_type, event.actor_id) == (
        "page.update",
        "page",
        admin,
    )
    changes = json.loads(event.changes)
    assert changes["before"]["title"] == before["returns"][0]
    assert changes["after"]["title"] == "Returns and refunds"
    assert "Returns and refunds" in get_html(client, "/audit/?subject_type=page")


def test_a_page_never_renders_the_html_an_admin_types(app, client, admin):
    body = (
        "<script>alert(1)</script>\n\n## <img src=x onerror=alert(1)>\n\n- <b>bold</b>"
    )
    post_form(client, "/pages/about/edit", {"title": "<i>About</i>", "body": body})
    html = get_html(client, "/pages/about")
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "<b>bold</b>" not in html and "<i>About</i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<h2>&lt;img src=x onerror=alert(1)&gt;</h2>" in html


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"title": "", "body": "Text"}, "Give the page a title."),
        ({"title": "T", "body": "   "}, "Write the page&#39;s text."),
        ({"title": "x" * 101, "body": "Text"}, "Use at most 100 characters."),
        (
            {"title": "T", "body": "x" * (PAGE_BODY_MAX + 1)},
            "Use at most 20,000 characters.",
        ),
        ({"title": "T\x00", "body": "Text"}, "Remove the control characters"),
    ],
)
def test_a_bad_page_edit_says_why_and_writes_nothing(
    app, client, admin, fields, message
):
    before = page_rows(app)
    response = post_form(
        client, "/pages/shipping/edit", fields, page="/pages/shipping/edit"
    )
    assert response.status_code == 422
    assert message in html_of(response)
    assert page_rows(app) == before
    assert audit_events(app) == []


def test_a_page_edit_without_csrf_or_by_a_shopper_writes_nothing(
    app, client, make_user
):
    before = page_rows(app)
    make_user(name="Ada Admin", email="ada@example.com", is_admin=True)
    admin = client_for(app, "ada@example.com")
    assert (
        admin.post("/pages/about/edit", data={"title": "X", "body": "Y"}).status_code
        == 400
    )
    make_user(name="Sam Shopper", email="sam@example.com")
    shopper = client_for(app, "sam@example.com")
    response = post_form(
        shopper, "/pages/about/edit", {"title": "X", "body": "Y"}, page="/items/"
    )
    assert response.status_code == 403
    assert client.get("/pages/about/edit").status_code == 302  # to sign in
    assert page_rows(app) == before
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == 0


def test_an_unchanged_page_writes_no_audit_event(app, client, admin):
    title, body = page_rows(app)["terms"]
    response = post_form(client, "/pages/terms/edit", {"title": title, "body": body})
    assert response.status_code == 302
    assert audit_events(app) == []


def test_plain_text_becomes_paragraphs_headings_and_lists():
    assert str(render_body("One\nline two\n\n\n## Head\n\n- a\n- b")) == (
        "<p>One<br>\nline two</p>\n<h2>Head</h2>\n<ul><li>a</li><li>b</li></ul>"
    )
    assert str(render_body("a & b < c")) == "<p>a &amp; b &lt; c</p>"
    assert summary("word " * 100).endswith("…")
    assert len(summary("word " * 100)) <= META_DESCRIPTION_MAX


# --- stock shown to shoppers --------------------------------------------------------------


def test_only_n_left_shows_only_when_stock_is_truly_low(app, client, make_item):
    low = make_item(name="Low", stock=LOW_STOCK_SHOWN)
    some = make_item(name="Some", stock=LOW_STOCK_SHOWN + 1)
    catalogue = get_html(client, "/items/")
    assert f"Only {LOW_STOCK_SHOWN} left" in catalogue
    assert f"{LOW_STOCK_SHOWN + 1} in stock" in catalogue
    assert f"Only {LOW_STOCK_SHOWN + 1} left" not in catalogue
    assert f"Only {LOW_STOCK_SHOWN} left" in get_html(client, f"/items/{low}")
    set_item(app, some, stock=1)
    assert "Only 1 left" in get_html(client, f"/items/{some}")


# --- forms and admin lists -----------------------------------------------------------------


def test_password_and_email_fields_say_what_a_password_manager_should_fill(client):
    login = get_html(client, "/users/login")
    assert re.search(
        r'<input[^>]*autocomplete="email"[^>]*name="email"|<input[^>]*name="email"[^>]*autocomplete="email"',
        login,
    )
    assert re.search(
        r'autocomplete="current-password"[^>]*name="password"|name="password"[^>]*autocomplete="current-password"',
        login,
    )
    register = get_html(client, "/users/register")
    for name in ("password", "password_confirm"):
        assert re.search(
            rf'autocomplete="new-password"[^>]*name="{name}"|name="{name}"[^>]*autocomplete="new-password"',
            register,
        ), name
    assert 'autocomplete="email"' in register


def test_no_page_speaks_of_purchase_lines(
    app, client, admin, make_user, make_item, make_purchase
):
    olive = make_user(name="Olive", email="olive@example.com")
    lamp = make_item(name="Lamp")
    make_purchase(olive, lamp)
    for url in (
        "/purchases/all",
        "/purchases/orders/",
        "/users/",
        f"/users/{olive}",
        f"/items/{lamp}",
    ):
        assert "purchase line" not in get_html(client, url).lower(), url
