"""Making an upload into the copies the store serves, once, at upload.

Only JPEG, PNG and WebP are decoded, recognised by their first bytes (never
the name or the browser's word) and then by Pillow told to try those three
formats alone. The pixel count is checked before any pixel is decoded, and
Pillow's decompression-bomb warning is an error. The picture is turned
upright by its EXIF orientation, flattened onto white, and written again at
a few widths as WebP and as JPEG with no metadata at all: no uploaded byte
is ever served. The files are named from a hash of the largest copy, so a
URL's content never changes.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from app.limits import IMAGE_BYTES_MAX, IMAGE_PIXELS_MAX, IMAGE_WIDTHS

SIGNATURES = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
}
FORMATS = ("JPEG", "PNG", "WEBP")
WEBP_QUALITY = 80
JPEG_QUALITY = 82
ALLOWED = "a JPEG, PNG or WebP picture"


class ImageRefused(ValueError):
    """An upload the store will not take; the message says why, for the admin."""


@dataclass
class Processed:
    key: str
    width: int
    height: int
    widths: list[int]
    files: dict[str, bytes] = field(default_factory=dict)


def sniff(data: bytes) -> str | None:
    """The format the first bytes announce, of the three taken, or None."""
    for name, prefixes in SIGNATURES.items():
        if data.startswith(prefixes):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def file_key(key: str, width: int, ext: str) -> str:
    return f"{key}-{width}.{ext}"


def process(data: bytes) -> Processed:
    """The served copies of an upload, or ImageRefused with the reason."""
    if not data:
        raise ImageRefused("Choose a picture to upload.")
    if len(data) > IMAGE_BYTES_MAX:
        raise ImageRefused(
            f"That file is over {IMAGE_BYTES_MAX // (1024 * 1024)} MB: "
            "upload a smaller picture."
        )
    announced = sniff(data)
    if announced is None:
        raise ImageRefused(f"That file is not {ALLOWED}.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
                if opened.format != announced:
                    raise ImageRefused(f"That file is not {ALLOWED}.")
                width, height = opened.size
                if width * height > IMAGE_PIXELS_MAX:
                    raise ImageRefused(_too_many_pixels(width, height))
                opened.seek(0)  # an animation's first frame
                opened.load()
                picture = ImageOps.exif_transpose(opened)
                picture = _flatten(picture)
        except ImageRefused:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ImageRefused(
                "That picture has too many pixels to open safely: the most the "
                f"store takes is {IMAGE_PIXELS_MAX // 1_000_000} megapixels."
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise ImageRefused(
                f"That file could not be read as {ALLOWED} (it may be damaged)."
            ) from error
    return _copies(picture)


def _too_many_pixels(width: int, height: int) -> str:
    return (
        f"That picture is {width:,} × {height:,} pixels; the most the store takes "
        f"is {IMAGE_PIXELS_MAX // 1_000_000} megapixels."
    )


def _flatten(picture: Image.Image) -> Image.Image:
    """RGB on a white background (JPEG has no transparency)."""
    if picture.mode in ("RGBA", "LA", "PA") or (
        picture.mode == "P" and "transparency" in picture.info
    ):
        rgba = picture.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return picture.convert("RGB")


def _copies(picture: Image.Image) -> Processed:
    width, height = picture.size
    largest = min(width, max(IMAGE_WIDTHS))
    widths = sorted({w for w in IMAGE_WIDTHS if w < largest} | {largest})
    encoded: dict[int, tuple[bytes, bytes]] = {}
    source = picture
    for target in reversed(widths):  # each copy from the next larger one: fast
        size = (target, max(1, round(height * target / width)))
        source = source if source.size == size else source.resize(size, Image.LANCZOS)
        encoded[target] = (_encode(source, "WEBP"), _encode(source, "JPEG"))
    key = hashlib.sha256(encoded[largest][1]).hexdigest()[:32]
    files = {}
    for target, (webp, jpeg) in encoded.items():
        files[file_key(key, target, "webp")] = webp
        files[file_key(key, target, "jpg")] = jpeg
    return Processed(
        key=key,
        width=largest,
        height=max(1, round(height * largest / width)),
        widths=widths,
        files=files,
    )


def _encode(picture: Image.Image, format_: str) -> bytes:
    """The picture in `format_`, with no EXIF, ICC, XMP or comment."""
    out = io.BytesIO()
    if format_ == "WEBP":
        picture.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    else:
        picture.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def keys_of(key: str, widths: list[int]) -> list[str]:
    """Every stored file of one image."""
    return [file_key(key, w, ext) for w in widths for ext in ("webp", "jpg")]
