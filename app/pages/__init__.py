"""The shop's own pages: About, Contact, Shipping, Returns, Privacy, Terms."""

from flask import Blueprint

bp = Blueprint("pages", __name__, url_prefix="/pages")
