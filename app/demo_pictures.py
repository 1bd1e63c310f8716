"""The demo shop's pictures, drawn with Pillow: for each shelf a few simple
still lifes in its colour (a shape on a soft background, with a shadow), so
every card has a picture without a download. Drawn and made into their
served copies once per process (`flask seed` run twice in one process, as
the tests do, reuses them), and shared between items of the same shelf.
"""

from __future__ import annotations

import functools
import io
import random

from PIL import Image, ImageDraw, ImageFilter

from app.media.images import Processed, process

SIZE = 800
SHAPES = ("round", "tall", "wide", "stack")


@functools.cache
def picture(color: tuple[int, int, int], variant: int) -> Processed:
    """The served copies of one drawn picture (the same arguments, the same files)."""
    return process(_draw(color, variant))


def _draw(color: tuple[int, int, int], variant: int) -> bytes:
    rng = random.Random(hash((color, variant)) & 0xFFFF)
    background = tuple(min(255, 200 + c // 5) for c in color)
    image = Image.new("RGB", (SIZE, SIZE), background)
    shadow = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(image)
    shade = ImageDraw.Draw(shadow)
    tint = tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in color)
    light = tuple(min(255, c + 60) for c in tint)
    shape = SHAPES[variant % len(SHAPES)]
    cx = SIZE // 2 + rng.randint(-60, 60)
    if shape == "round":
        box = (cx - 230, 230, cx + 230, 690)
        shade.ellipse((box[0] + 30, 640, box[2] + 30, 720), fill=120)
        draw.ellipse(box, fill=tint)
        draw.ellipse((box[0] + 60, box[1] + 50, box[0] + 200, box[1] + 150), fill=light)
    elif shape == "tall":
        box = (cx - 130, 140, cx + 130, 700)
        shade.rectangle((box[0] + 40, 670, box[2] + 60, 720), fill=120)
        draw.rounded_rectangle(box, radius=60, fill=tint)
        draw.rounded_rectangle(
            (box[0] + 30, box[1] + 40, box[0] + 70, box[3] - 60), radius=20, fill=light
        )
    elif shape == "wide":
        box = (120, cx - 160, 680, cx + 120)
        shade.rectangle((150, box[3] - 10, 720, box[3] + 40), fill=120)
        draw.rounded_rectangle(box, radius=40, fill=tint)
        draw.rectangle((box[0] + 40, box[1] + 30, box[2] - 40, box[1] + 60), fill=light)
    else:
        for n in range(3):
            top = 520 - n * 130
            box = (cx - 220 + n * 30, top, cx + 220 - n * 30, top + 110)
            draw.rounded_rectangle(box, radius=30, fill=tint if n % 2 == 0 else light)
        shade.rectangle((cx - 200, 640, cx + 260, 690), fill=110)
    blurred = shadow.filter(ImageFilter.GaussianBlur(24))
    darker = Image.new("RGB", (SIZE, SIZE), tuple(c // 2 for c in background))
    image = Image.composite(darker, image, blurred.point(lambda v: v // 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
