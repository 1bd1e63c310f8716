"""Orders: placing them, the moves between statuses, refunds and expiry.

No views live here (their URLs are under /purchases/, in app/purchases/):
this package is the rules every view and command goes through.
"""
