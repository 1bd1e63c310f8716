"""Shoppers as Locust users: most browse and search, some open items, a few
sign in, add to the cart and check out.

Run by `make load` (bench/shoppers.py), which seeds the store, serves it and
writes the file this reads: LOAD_PLAN, a JSON object of the buyers' emails
(their password is the seed's), the item ids the buyers pick from, and the
words the browsers search for.

Every request is named by its page (catalogue, search, item, ...), so the
statistics come per page. A checkout turned away because another buyer took
the last units first (409), or an add refused for want of stock (422), is
the store doing its job: counted as "turned away", not as an error.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
from pathlib import Path

from locust import HttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import CSRF_RE, SHOPPER_PASSWORD, checkout_form

PLAN = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
BUYER_EMAILS = itertools.cycle(PLAN["buyers"])
TALLY = {"orders": 0, "turned_away": 0}


@events.quitting.add_listener
def write_tally(environment, **kwargs) -> None:
    Path(PLAN["tally"]).write_text(json.dumps(TALLY))


class Visitor(HttpUser):
    """An anonymous visitor: the catalogue's pages, searches, sorts, items."""

    weight = 9
    wait_time = between(0.2, 1.0)

    @task(8)
    def catalogue(self) -> None:
        page = random.choice((1, 1, 1, 2, 3, random.randint(4, PLAN["pages"])))
        self.client.get(f"/items/?page={page}", name="catalogue")

    @task(4)
    def search(self) -> None:
        self.client.get(f"/items/?q={random.choice(PLAN['words'])}", name="search")

    @task(2)
    def sort(self) -> None:
        order = random.choice(("price", "-price", "newest"))
        self.client.get(f"/items/?sort={order}", name="sort")

    @task(5)
    def item(self) -> None:
        self.client.get(f"/items/{random.choice(PLAN['items'])}", name="item")


class Buyer(HttpUser):
    """A signed-in shopper: browses a little, adds an item, opens the
    checkout page and places the order."""

    weight = 1
    wait_time = between(0.5, 2.0)

    def request(self, method: str, path: str, name: str, **kw):
        """One request with every cookie the store set, Secure ones too: the
        production config marks them Secure, and this is loopback HTTP."""
        for cookie in self.client.cookies:
            cookie.secure = False
        return self.client.request(method, path, name=name, **kw)

    def on_start(self) -> None:
        page = self.request("GET", "/users/login", name="sign in page").text
        token = CSRF_RE.search(page).group(1)
        form = {"csrf_token": token, "email": next(BUYER_EMAILS),
                "password": SHOPPER_PASSWORD}  # fmt: skip
        self.request("POST", "/users/login", name="sign in", data=form)

    @task(2)
    def browse(self) -> None:
        self.request("GET", "/items/", name="catalogue (signed in)")

    @task(3)
    def buy(self) -> None:
        item_id = random.choice(PLAN["stocked"])
        page = self.request("GET", f"/items/{item_id}", name="item (signed in)").text
        match = CSRF_RE.search(page)
        if match is None:
            return
        token = match.group(1)
        with self.request(
            "POST",
            "/purchases/cart",
            data={"csrf_token": token, "item_id": item_id, "quantity": 1},
            name="add to cart",
            allow_redirects=False,
            catch_response=True,
        ) as added:
            if added.status_code == 422:  # sold out meanwhile
                TALLY["turned_away"] += 1
                added.success()
                return
            if added.status_code != 302:
                added.failure(f"add to cart answered {added.status_code}")
                return
        self.request("GET", "/purchases/cart", name="cart")
        page = self.request("GET", "/purchases/checkout", name="checkout page").text
        form = checkout_form(page)
        if form is None:
            return
        with self.request(
            "POST",
            "/purchases/checkout",
            data={"csrf_token": token, **form},
            name="place order",
            allow_redirects=False,
            catch_response=True,
        ) as placed:
            location = placed.headers.get("Location", "")
            if placed.status_code == 302 and "/purchases/orders/" in location:
                TALLY["orders"] += 1
                self.request("GET", location, name="order page")
            elif placed.status_code in (302, 409):  # the stock went first
                TALLY["turned_away"] += 1
                placed.success()
            else:
                placed.failure(f"checkout answered {placed.status_code}")
