"""Item pictures through HTTP: an admin's upload from the edit page makes the
resized WebP and JPEG copies before it answers (upright, with no metadata),
the pages show them with width, height, alt and srcset, /media/ serves them
for a year, and a bad upload is refused with a message leaving no row and
no file (SECURITY 44)."""

from __future__ import annotations

import io
import re
import zlib

import pytest
import sqlalchemy as sa
from PIL import Image

from app.extensions import db
from app.limits import IMAGE_BYTES_MAX
from app.models import ItemImage
from tests.helpers import (
    add_picture,
    html_of,
    media_files,
    picture_bytes,
    post_form,
)

GPS_IFD = 0x8825
ORIENTATION = 0x0112
MAKE = 0x010F


def upload(client, item_id: int, data: bytes, name: str = "photo.jpg", alt="A photo"):
    return post_form(
        client,
        f"/items/{item_id}/images",
        {"image": (io.BytesIO(data), name), "alt": alt},
        page=f"/items/{item_id}/edit",
    )


def images_of(app, item_id: int) -> list[ItemImage]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(ItemImage)
            .where(ItemImage.item_id == item_id)
            .order_by(ItemImage.position)
        ).all()
        db.session.expunge_all()
        return rows


def test_an_upload_makes_every_copy_before_it_answers(app, client, admin, make_item):
    item_id = make_item(name="Walnut Tray")
    response = upload(client, item_id, picture_bytes(size=(1200, 800)), alt="The tray")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/items/{item_id}/edit#pictures")

    (image,) = images_of(app, item_id)
    assert (image.position, image.alt) == (0, "The tray")
    assert (image.width, image.height) == (1024, 683)
    assert image.width_list == [160, 320, 640, 1024]
    expected = sorted(
        f"{image.key}-{w}.{ext}"
        for w in (160, 320, 640, 1024)
        for ext in ("jpg", "webp")
    )
    assert media_files(app) == expected  # no original, no temporary file
    for name in expected:
        served = client.get(f"/media/{name}")
        assert served.status_code == 200
        assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        picture = Image.open(io.BytesIO(served.data))
        assert picture.format == ("WEBP" if name.endswith("webp") else "JPEG")
        width = int(name.rsplit("-", 1)[1].split(".")[0])
        assert picture.size == (width, round(800 * width / 1200))


def test_a_small_picture_is_not_enlarged(app, client, admin, make_item):
    item_id = make_item()
    assert (
        upload(client, item_id, picture_bytes("PNG", size=(200, 100))).status_code
        == 302
    )
    (image,) = images_of(app, item_id)
    assert image.width_list == [160, 200]
    assert (image.width, image.height) == (200, 100)


def test_s44_exif_orientation_is_applied_and_every_tag_is_dropped(
    app, client, admin, make_item
):
    """A phone's portrait photo: stored landscape with orientation 6 (turn 90°
    clockwise), a camera make and a GPS position. Served upright, bare."""
    item_id = make_item()
    photo = picture_bytes(
        size=(400, 200),
        exif={
            ORIENTATION: 6,
            MAKE: "PhoneCam",
            GPS_IFD: {1: "N", 2: (51.0, 30.0, 0.0)},
        },
    )
    assert Image.open(io.BytesIO(photo)).getexif()[ORIENTATION] == 6
    assert upload(client, item_id, photo).status_code == 302
    (image,) = images_of(app, item_id)
    assert (image.width, image.height) == (200, 400)
    for name in media_files(app):
        data = client.get(f"/media/{name}").data
        picture = Image.open(io.BytesIO(data))
        assert picture.size[1] > picture.size[0]  # portrait
        assert not picture.getexif()
        assert "exif" not in picture.info and "xmp" not in picture.info
        assert b"PhoneCam" not in data and b"Exif" not in data
        # The dark band drawn along the original's top edge is now on the right.
        rgb = picture.convert("RGB")
        w, h = rgb.size
        assert sum(rgb.getpixel((w - 2, h // 2))) < 120
        assert sum(rgb.getpixel((1, h // 2))) > 300


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG announcing `width` × `height` pixels with a tiny (bogus) body:
    what a decompression bomb looks like before it is decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    ihdr = (
        width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    )
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10), (1, 2, 3)).save(out, "GIF")
    return out.getvalue()


REFUSED = {
    "text": (b"just some words", "notes.jpg", "is not a JPEG, PNG or WebP"),
    "html": (b"<!doctype html><script>alert(1)</script>", "page.png", "is not a JPEG"),
    "svg": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "logo.svg",
        "is not a JPEG",
    ),
    "gif": (_gif(), "anim.gif", "is not a JPEG"),
    # HTML behind a JPEG's first bytes: no picture in it to decode.
    "polyglot": (
        b"\xff\xd8\xff\xe0<html><script>alert(1)</script>",
        "x.jpg",
        "could not be read",
    ),
    # A real PNG under a JPEG's name is fine; a PNG whose body is cut off is not.
    "truncated": (
        picture_bytes("PNG", size=(300, 300))[:200],
        "cut.png",
        "could not be read",
    ),
    "bomb": (_png_header_only(8_000, 6_000), "bomb.png", "40 megapixels"),
    "huge bomb": (_png_header_only(60_000, 60_000), "bomb.png", "40 megapixels"),
    "too large": (
        b"\xff\xd8\xff\xe0" + b"\x00" * (IMAGE_BYTES_MAX + 1),
        "big.jpg",
        "over 10 MB",
    ),
    "empty": (b"", "empty.jpg", "Choose a picture"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_s44_a_bad_upload_is_refused_with_a_message_and_nothing_stored(
    app, client, admin, make_item, case
):
    data, name, message = REFUSED[case]
    item_id = make_item()
    response = upload(client, item_id, data, name=name)
    assert response.status_code == 422
    assert message in html_of(response)
    assert images_of(app, item_id) == []
    assert media_files(app) == []


def test_an_upload_with_no_file_field_is_refused(app, client, admin, make_item):
    item_id = make_item()
    response = post_form(
        client, f"/items/{item_id}/images", {"alt": "x"}, page=f"/items/{item_id}/edit"
    )
    assert response.status_code == 422
    assert "Choose a picture" in html_of(response)
    assert images_of(app, item_id) == [] and media_files(app) == []


def test_a_png_named_jpg_is_read_by_its_content(app, client, admin, make_item):
    item_id = make_item()
    assert (
        upload(client, item_id, picture_bytes("PNG"), name="x.jpg").status_code == 302
    )
    assert len(images_of(app, item_id)) == 1


def test_webp_uploads_are_taken_and_transparency_goes_white(
    app, client, admin, make_item
):
    item_id = make_item()
    out = io.BytesIO()
    Image.new("RGBA", (300, 200), (0, 0, 0, 0)).save(out, "WEBP")
    assert upload(client, item_id, out.getvalue(), name="a.webp").status_code == 302
    (image,) = images_of(app, item_id)
    data = client.get(f"/media/{image.key}-300.jpg").data
    assert Image.open(io.BytesIO(data)).convert("RGB").getpixel((5, 5)) >= (
        250,
        250,
        250,
    )


def test_overlong_alt_text_is_a_form_error(app, client, admin, make_item):
    item_id = make_item()
    response = upload(client, item_id, picture_bytes(), alt="x" * 201)
    assert response.status_code == 422
    assert "alt text" in html_of(response)
    assert images_of(app, item_id) == [] and media_files(app) == []


def test_pictures_show_on_cards_and_the_item_page_with_size_alt_and_srcset(
    app, client, make_item
):
    item_id = make_item(name="Oak Stool")
    make_item(name="Bare Bowl")  # no picture: a card without one
    _, first_key = add_picture(app, item_id, "The stool from the front")
    _, second_key = add_picture(app, item_id, "Its legs", color=(10, 90, 200))

    catalogue = client.get("/items/").get_data(as_text=True)
    assert catalogue.count("<picture") == 1
    assert f"/media/{first_key}-320.jpg" in catalogue
    assert second_key not in catalogue
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert page.count("<picture") == 2
    for img in re.findall(r"<img\b[^>]*>", page):
        for attribute in ("width=", "height=", "alt=", "srcset=", "src="):
            assert attribute in img, img
    assert 'alt="The stool from the front"' in page and 'alt="Its legs"' in page
    assert re.search(
        rf'<source type="image/webp" srcset="/media/{first_key}-160.webp 160w, '
        rf'/media/{first_key}-320.webp 320w"',
        page,
    )
    # 320 × 240 shown at 320: the <img>'s box keeps the picture's shape.
    assert re.search(
        r'<img src="/media/[0-9a-f]+-320.jpg"[^>]*width="320" height="240"', page
    )


def test_pictures_move_up_and_down_and_the_first_is_the_card(
    app, client, admin, make_item
):
    item_id = make_item(name="Cedar Box")
    ids = [
        add_picture(app, item_id, f"view {n}", color=(n * 60, 0, 0))[0]
        for n in range(3)
    ]

    def move(image_id: int, direction: str):
        return post_form(
            client,
            f"/items/{item_id}/images/{image_id}/move",
            {"direction": direction},
            page=f"/items/{item_id}/edit",
        )

    assert move(ids[2], "up").status_code == 302
    assert [i.id for i in images_of(app, item_id)] == [ids[0], ids[2], ids[1]]
    assert move(ids[2], "up").status_code == 302
    assert [i.id for i in images_of(app, item_id)] == [ids[2], ids[0], ids[1]]
    assert move(ids[2], "up").status_code == 302  # already first: nothing moves
    assert move(ids[1], "down").status_code == 302  # already last
    assert [i.id for i in images_of(app, item_id)] == [ids[2], ids[0], ids[1]]
    assert [i.position for i in images_of(app, item_id)] == [0, 1, 2]
    assert move(ids[0], "sideways").status_code == 400
    first_key = images_of(app, item_id)[0].key
    assert f"/media/{first_key}-320.jpg" in client.get("/items/").get_data(as_text=True)


def test_deleting_a_picture_removes_its_row_and_files(app, client, admin, make_item):
    item_id = make_item()
    keep, keep_key = add_picture(app, item_id, "keep", color=(0, 200, 0))
    gone, gone_key = add_picture(app, item_id, "gone", color=(0, 0, 200))
    response = post_form(
        client, f"/items/{item_id}/images/{gone}/delete", page=f"/items/{item_id}/edit"
    )
    assert response.status_code == 302
    assert [i.id for i in images_of(app, item_id)] == [keep]
    assert all(name.startswith(keep_key) for name in media_files(app))
    assert client.get(f"/media/{gone_key}-160.webp").status_code == 404


def test_a_picture_shared_by_two_items_keeps_its_files_while_one_uses_them(
    app, client, admin, make_item
):
    lamp, vase = make_item(name="Lamp"), make_item(name="Vase")
    lamp_image, key = add_picture(app, lamp)
    _, same_key = add_picture(app, vase)
    assert same_key == key  # the same picture: the same files
    files = media_files(app)
    post_form(
        client, f"/items/{lamp}/images/{lamp_image}/delete", page=f"/items/{lamp}/edit"
    )
    assert media_files(app) == files
    assert client.get(f"/media/{key}-160.webp").status_code == 200


def test_another_items_picture_cannot_be_moved_or_deleted_through_this_item(
    app, client, admin, make_item
):
    lamp, vase = make_item(name="Lamp"), make_item(name="Vase")
    image_id, _ = add_picture(app, lamp)
    files = media_files(app)
    for action in ("delete", "move"):
        response = post_form(
            client,
            f"/items/{vase}/images/{image_id}/{action}",
            {"direction": "up"},
            page=f"/items/{vase}/edit",
        )
        assert response.status_code == 404
    assert len(images_of(app, lamp)) == 1 and media_files(app) == files


def test_an_item_takes_at_most_its_share_of_pictures(
    app, client, admin, make_item, monkeypatch
):
    from app.items import images as image_views

    monkeypatch.setattr(image_views, "IMAGES_PER_ITEM_MAX", 2)
    item_id = make_item()
    add_picture(app, item_id, color=(1, 1, 1))
    add_picture(app, item_id, color=(2, 2, 2))
    files = media_files(app)
    response = upload(client, item_id, picture_bytes(color=(3, 3, 3)))
    assert response.status_code == 422
    assert "2 pictures at most" in html_of(response)
    assert len(images_of(app, item_id)) == 2 and media_files(app) == files


@pytest.mark.parametrize(
    "key",
    [
        "nope",
        "..%2fconfig.py",
        "%2e%2e%2fconfig.py",
        ".upload-abc",
        "0" * 32 + "-160.png",
    ],
)
def test_s44_media_serves_only_stored_copies(client, key):
    assert client.get(f"/media/{key}").status_code == 404


def test_a_shopper_cannot_upload(app, client, shopper, make_item):
    item_id = make_item()
    response = post_form(
        client,
        f"/items/{item_id}/images",
        {"image": (io.BytesIO(picture_bytes()), "a.jpg")},
        page="/items/",
    )
    assert response.status_code == 403
    assert images_of(app, item_id) == [] and media_files(app) == []


def test_the_database_refuses_two_pictures_in_one_place(app, make_item):
    item_id = make_item()
    add_picture(app, item_id)
    with app.app_context():
        db.session.add(
            ItemImage(
                item_id=item_id, position=0, width=1, height=1, key="a" * 32, widths="1"
            )
        )
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()


def test_the_cart_and_the_order_show_a_thumbnail(app, client, shopper, make_item):
    from tests.helpers import add_to_cart, checkout

    pictured = make_item(name="Pictured Jug", stock=5)
    plain = make_item(name="Plain Jug", stock=5)
    _, key = add_picture(app, pictured, "The jug")
    add_to_cart(client, pictured)
    add_to_cart(client, plain)
    cart = client.get("/purchases/cart").get_data(as_text=True)
    assert cart.count("<picture") == 1
    assert f"/media/{key}-160.jpg" in cart and 'alt="The jug"' in cart
    response = checkout(client)
    assert response.status_code == 302
    order = client.get(response.headers["Location"]).get_data(as_text=True)
    assert order.count("<picture") == 1 and f"/media/{key}-" in order
