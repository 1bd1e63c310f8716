"""The demo shop's catalogue: a two-level tree of categories, and for each
shelf the things a small homeware shop would sell there, with believable
prices and a description built from what such a thing is made of and for.

`flask seed` (app/demo.py) draws item names, prices and descriptions from
these; app/demo_pictures.py draws each shelf's pictures in its colours.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shelf:
    name: str
    nouns: tuple[str, ...]
    makes: tuple[str, ...]  # what it is made of, or its style
    variants: tuple[str, ...]  # sizes, sets, colours
    cents: tuple[int, int]  # a price range
    uses: tuple[str, ...]  # what it is good for
    color: tuple[int, int, int]  # the shelf's pictures' colour


CATALOGUE: dict[str, tuple[Shelf, ...]] = {
    "Kitchen": (
        Shelf(
            "Cookware",
            ("Frying Pan", "Saucepan", "Dutch Oven", "Stockpot", "Sauté Pan", "Wok"),
            ("Cast Iron", "Stainless Steel", "Carbon Steel", "Enamelled", "Copper"),
            ("20 cm", "24 cm", "28 cm", "Set of 2"),
            (2400, 22000),
            (
                "searing and slow braises",
                "everyday cooking on gas or induction",
                "a weeknight stir-fry",
                "soups and stocks for a crowd",
            ),
            (150, 70, 40),
        ),
        Shelf(
            "Tableware",
            ("Dinner Plate", "Side Plate", "Pasta Bowl", "Serving Platter", "Mug"),
            ("Stoneware", "Porcelain", "Speckled Ceramic", "Bone China", "Terracotta"),
            ("Set of 4", "Set of 6", "Single", "Set of 2"),
            (900, 8500),
            (
                "everyday meals",
                "long dinners with friends",
                "the dishwasher and the microwave",
                "a table that looks set with care",
            ),
            (70, 110, 150),
        ),
        Shelf(
            "Coffee & Tea",
            ("Teapot", "Pour-Over Dripper", "Cafetière", "Tea Caddy", "Milk Jug"),
            ("Glass", "Ceramic", "Brushed Steel", "Cast Iron", "Bamboo"),
            ("350 ml", "600 ml", "1 litre", "Gift Set"),
            (1200, 7500),
            (
                "a slow morning brew",
                "loose-leaf tea",
                "coffee for two",
                "keeping leaves fresh",
            ),
            (110, 75, 45),
        ),
        Shelf(
            "Kitchen Tools",
            ("Chef's Knife", "Chopping Board", "Wooden Spoon", "Grater", "Pepper Mill"),
            ("Walnut", "Olive Wood", "Japanese Steel", "Beech", "Acacia"),
            ("Small", "Large", "Set of 3", "Single"),
            (800, 12000),
            (
                "prep work every day",
                "a lifetime of chopping",
                "serving at the table",
                "grinding spices fresh",
            ),
            (120, 90, 50),
        ),
    ),
    "Home": (
        Shelf(
            "Lighting",
            ("Table Lamp", "Floor Lamp", "Pendant Shade", "Lantern", "Reading Light"),
            ("Brass", "Paper", "Rattan", "Opal Glass", "Linen"),
            ("Small", "Large", "Warm White", "Dimmable"),
            (2900, 24000),
            (
                "a reading corner",
                "soft evening light",
                "a dining table",
                "a balcony on summer nights",
            ),
            (200, 160, 60),
        ),
        Shelf(
            "Textiles",
            ("Throw", "Cushion Cover", "Table Runner", "Bath Towel", "Blanket"),
            ("Wool", "Washed Linen", "Organic Cotton", "Merino", "Waffle Cotton"),
            ("Oatmeal", "Charcoal", "Sage", "Rust"),
            (1500, 14000),
            (
                "cold evenings on the sofa",
                "a bed made in layers",
                "the bathroom every day",
                "a table laid for guests",
            ),
            (90, 120, 90),
        ),
        Shelf(
            "Decor",
            ("Vase", "Candle Holder", "Wall Mirror", "Picture Frame", "Storage Basket"),
            ("Hand-blown Glass", "Oak", "Seagrass", "Marble", "Aged Brass"),
            ("Small", "Medium", "Large", "Pair"),
            (1200, 18000),
            (
                "a mantelpiece",
                "fresh flowers from the market",
                "a narrow hallway",
                "tidying a shelf",
            ),
            (140, 100, 130),
        ),
        Shelf(
            "Candles",
            ("Scented Candle", "Pillar Candle", "Taper Candles", "Tealights"),
            ("Soy Wax", "Beeswax", "Rapeseed Wax", "Unscented"),
            ("Fig", "Cedar", "Sea Salt", "Box of 12"),
            (600, 4500),
            ("a long bath", "a dinner table", "winter evenings", "a gift that is used"),
            (170, 130, 90),
        ),
    ),
    "Garden": (
        Shelf(
            "Planters",
            ("Plant Pot", "Window Box", "Hanging Planter", "Propagation Vase"),
            ("Terracotta", "Glazed Stoneware", "Galvanised Steel", "Concrete"),
            ("12 cm", "20 cm", "30 cm", "Set of 3"),
            (900, 9500),
            (
                "herbs on a sill",
                "a sunny balcony",
                "cuttings from a friend",
                "a fiddle-leaf fig",
            ),
            (160, 90, 60),
        ),
        Shelf(
            "Garden Tools",
            ("Trowel", "Pruning Shears", "Watering Can", "Hand Fork", "Kneeler"),
            ("Stainless Steel", "Copper", "Ash Handle", "Recycled Plastic"),
            ("Single", "Set of 2", "Long Reach", "Compact"),
            (1100, 6500),
            (
                "a vegetable patch",
                "roses and shrubs",
                "pots on a patio",
                "an allotment",
            ),
            (60, 120, 70),
        ),
        Shelf(
            "Outdoor Living",
            ("Picnic Blanket", "Folding Chair", "Storm Lantern", "Enamel Mug"),
            ("Canvas", "Teak", "Waxed Cotton", "Enamelled Steel"),
            ("Olive", "Navy", "Sand", "Set of 2"),
            (1400, 16000),
            (
                "the park on a Sunday",
                "a campsite",
                "a small balcony",
                "evenings that run late",
            ),
            (80, 110, 60),
        ),
    ),
    "Stationery": (
        Shelf(
            "Notebooks",
            ("Notebook", "Sketchbook", "Journal", "Planner", "Pocket Notebook"),
            ("Linen Bound", "Leather", "Recycled Paper", "Cloth Bound", "Kraft"),
            ("A5 Dotted", "A5 Lined", "A4 Plain", "Pack of 3"),
            (700, 4800),
            (
                "morning pages",
                "meeting notes",
                "sketching on the go",
                "planning the year",
            ),
            (50, 80, 120),
        ),
        Shelf(
            "Pens & Ink",
            ("Fountain Pen", "Rollerball", "Bottled Ink", "Mechanical Pencil"),
            ("Brass", "Resin", "Aluminium", "Walnut"),
            ("Fine", "Medium", "Blue-Black", "Gift Box"),
            (900, 12000),
            (
                "letters worth keeping",
                "daily journalling",
                "signing in style",
                "drawing",
            ),
            (40, 50, 90),
        ),
        Shelf(
            "Desk",
            ("Desk Tray", "Pen Pot", "Desk Lamp", "Letter Rack", "Bookends"),
            ("Oak", "Powder-coated Steel", "Cork", "Leather", "Marble"),
            ("Small", "Large", "Black", "Natural"),
            (1200, 9000),
            ("a tidy desk", "working from home", "a study corner", "a busy office"),
            (100, 100, 100),
        ),
    ),
}

FEATURES = (
    "It is made in small batches by a family workshop.",
    "It ships in recycled, plastic-free packaging.",
    "It comes with a two-year guarantee.",
    "Each one is finished by hand, so no two are quite alike.",
    "It is easy to clean and built to last for years.",
    "It makes a thoughtful gift.",
    "It ages beautifully with use.",
)
