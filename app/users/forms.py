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
from app.forms import strip, without_control_characters
from app.limits import EMAIL_MAX, PASSWORD_MAX, USER_NAME_MAX
from app.models import User
from app.passwords import password_problem


class RegisterForm(FlaskForm):
    name = StringField(
        "Name",
        filters=[without_control_characters],
        # DataRequired: a name of only spaces is empty once stripped.
        validators=[DataRequired("Enter your name."), Length(max=USER_NAME_MAX)],
    )
    email = EmailField(
        "Email",
        filters=[strip],
        validators=[
            InputRequired("Enter your email address."),
            Length(max=EMAIL_MAX),
            Email("Enter a valid email address.", check_deliverability=False),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Choose a password."), Length(max=PASSWORD_MAX)],
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
        filters=[without_control_characters],
        validators=[InputRequired("Enter your email."), Length(max=EMAIL_MAX)],
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Enter your password."), Length(max=PASSWORD_MAX)],
    )
    remember = BooleanField("Remember me")
