"""Every length and number limit of the store, in one place.

Models size their columns from these, forms and the CSV import check them,
and the templates show them (e.g. "Choose between 1 and 1,000").
"""

from __future__ import annotations

# Ids are 32-bit integers on PostgreSQL. Every id from outside (a route's
# <int:...>, a query-string filter, a form or CSV cell) is checked against
# this, so a larger number is a 404 or a form error, not a database error.
MAX_ID = 2**31 - 1

# Users
USER_NAME_MAX = 100
EMAIL_MAX = 254  # RFC 5321's limit on a forward path
PASSWORD_MIN = 8
PASSWORD_MAX = 128

# Items
ITEM_NAME_MAX = 200
DESCRIPTION_MAX = 5_000
PRICE_MAX_CENTS = 100_000_000  # $1,000,000.00
STOCK_MAX = 1_000_000

# The cart
MAX_QUANTITY = 1_000  # units of one item in one cart line
MAX_CART_LINES = 50  # different items in one cart

# Reading the catalogue and lists
MAX_QUERY_LENGTH = 100  # characters of ?q= that are searched
MAX_PAGE = 100_000

# A number typed into any form or query string: this many digits at most are
# read (a longer one is refused before it is converted). It covers every
# limit above with room to spare and keeps int() away from 4,300-digit text.
MAX_DIGITS = 12

# Orders and addresses
ORDER_NUMBER_LENGTH = 10  # characters of A-Z0-9 a new order's number has
ORDER_NUMBER_MAX = 16
ADDRESS_NAME_MAX = 100
ADDRESS_LINE_MAX = 200
ADDRESS_CITY_MAX = 100
POSTCODE_MAX = 16
TRACKING_NUMBER_MAX = 64
ORDER_NOTE_MAX = 500
SAVED_ADDRESSES_MAX = 20  # a shopper's saved addresses
SHIPPING_CODE_MAX = 40
SHIPPING_NAME_MAX = 100
SHIPPING_METHODS_MAX = 20
TAX_RATE_MAX_BP = 10_000  # 100 %
BANK_DETAILS_MAX = 2_000

# Reviews and the wishlist
RATING_MIN = 1
RATING_MAX = 5
REVIEW_TITLE_MAX = 120
REVIEW_BODY_MAX = 5_000
REVIEWS_PER_PAGE = 10
WISHLIST_PER_PAGE = 50

# Images (app/media/)
IMAGE_BYTES_MAX = 10 * 1024 * 1024  # 10 MB an upload
IMAGE_PIXELS_MAX = 40_000_000  # 40 megapixels: beyond it, a decompression bomb
IMAGE_ALT_MAX = 200
IMAGES_PER_ITEM_MAX = 12
# The widths made of each image (narrower originals stop at their own width).
IMAGE_WIDTHS = (160, 320, 640, 1024)

# Categories
CATEGORY_NAME_MAX = 80
CATEGORY_SLUG_MAX = 100
CATEGORIES_MAX = 500

# The storefront
# "Only N left" shows from this many units down: a true count, and only when
# it is low enough to matter to a shopper (higher counts read "N in stock").
LOW_STOCK_SHOWN = 3
PAGE_TITLE_MAX = 100  # an About, Shipping... page's title
PAGE_BODY_MAX = 20_000  # characters of its plain text
META_DESCRIPTION_MAX = 160  # characters search engines show under a title
SITEMAP_URLS_MAX = 50_000  # per sitemap file (the sitemaps.org limit)
SITEMAP_ITEMS_MAX = 100_000  # items listed across the sitemap's files
