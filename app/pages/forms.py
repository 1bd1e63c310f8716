"""The form an admin edits a content page with."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.forms import NoControlCharacters, strip
from app.limits import PAGE_BODY_MAX, PAGE_TITLE_MAX


class ContentPageForm(FlaskForm):
    """A page's title and its plain-text body."""

    title = StringField(
        "Title",
        filters=[strip],
        validators=[
            DataRequired("Give the page a title."),
            Length(
                max=PAGE_TITLE_MAX, message=f"Use at most {PAGE_TITLE_MAX} characters."
            ),
            NoControlCharacters(),
        ],
    )
    body = TextAreaField(
        "Text",
        filters=[strip],
        validators=[
            DataRequired("Write the page's text."),
            Length(
                max=PAGE_BODY_MAX,
                message=f"Use at most {PAGE_BODY_MAX:,} characters.",
            ),
            NoControlCharacters(allow="\r\n\t"),
        ],
        description=(
            "Plain text: a blank line starts a new paragraph, a line starting "
            "with “## ” is a heading and lines starting with “- ” make a list. "
            "HTML shows as typed."
        ),
        render_kw={"rows": 16},
    )
