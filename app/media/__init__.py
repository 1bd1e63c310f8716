"""Product pictures: made once at upload (app/media/images.py), kept through
one storage interface (app/media/storage.py), served from /media/..."""

from flask import Blueprint

bp = Blueprint("media", __name__, url_prefix="/media")
