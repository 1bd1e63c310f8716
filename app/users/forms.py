"""Sign-up and sign-in forms."""

from __future__ import annotations

import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    StringField,
    ValidationError,
)
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length

from app.extensions import db
from app.models import User
from app.passwords import MAX_LENGTH, password_problem


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _clean(value: str | None) -> str | None:
    """Trim and drop control characters (PostgreSQL refuses NUL in text)."""
    if not isinstance(value, str):
        return value
    return "".join(ch for ch in value if ch >= " " and ch != "\x7f").strip()


class RegisterForm(FlaskForm):
    name = StringField(
        "Name",
        filters=[_clean],
        # DataRequired: a name of only spaces is empty once stripped.
        validators=[DataRequired("Enter your name."), Length(max=100)],
    )
    email = EmailField(
        "Email",
        filters=[_strip],
        validators=[
            InputRequired("Enter your email address."),
            Length(max=254),
            Email("Enter a valid email address.", check_deliverability=False),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Choose a password."), Length(max=MAX_LENGTH)],
    )
    password_confirm = PasswordField(
        "Confirm password",
        validators=[
            InputRequired("Type the password again."),
            EqualTo("password", "The passwords do not match."),
        ],
    )

    def validate_email(self, field: EmailField) -> None:
        if field.errors:  # not an address (may hold NUL): nothing to look up
            return
        email = User.normalize_email(field.data)
        if db.session.scalar(sa.select(User.id).where(User.email == email)):
            raise ValidationError(
                "An account with this email already exists. Sign in instead?"
            )

    def validate_password(self, field: PasswordField) -> None:
        if problem := password_problem(field.data or ""):
            raise ValidationError(problem)


class LoginForm(FlaskForm):
    email = EmailField(
        "Email",
        filters=[_clean],
        validators=[InputRequired("Enter your email."), Length(max=254)],
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Enter your password."), Length(max=MAX_LENGTH)],
    )
    remember = BooleanField("Remember me")
