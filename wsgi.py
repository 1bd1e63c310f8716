"""The WSGI entry point: `gunicorn wsgi:app` and the `flask` command load this."""

from app import create_app
from config import config_for_environment

app = create_app(config_for_environment())
