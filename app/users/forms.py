"""Sign-up, sign-in, password reset and account settings forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    StringField,
    ValidationError,
)
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    Optional,
)

from app.forms import NoControlCharacters, strip, without_control_characters
from app.limits import EMAIL_MAX, PASSWORD_MAX, USER_NAME_MAX
from app.passwords import password_problem


def email_field(label: str = "Email") -> EmailField:
    return EmailField(
        label,
        filters=[strip],
        validators=[
            InputRequired("Enter your email address."),
            Length(max=EMAIL_MAX),
            Email("Enter a valid email address.", check_deliverability=False),
        ],
    )


def name_field() -> StringField:
    return StringField(
        "Name",
        filters=[without_control_characters],
        # DataRequired: a name of only spaces is empty once stripped.
        validators=[
            DataRequired("Enter your name."),
            Length(max=USER_NAME_MAX),
            NoControlCharacters(),  # the invisible ones the filter keeps
        ],
    )


def new_password_fields(label: str, required: bool = True):
    """A new password (the store's policy) and its confirmation."""
    first = [Length(max=PASSWORD_MAX)]
    second = [EqualTo("password", "The passwords do not match.")]
    if required:
        first.insert(0, InputRequired("Choose a password."))
        second.insert(0, InputRequired("Type the password again."))
    else:
        first.insert(0, Optional())
    return PasswordField(label, validators=first), PasswordField(
        "Confirm password", validators=second
    )


def _check_policy(form: FlaskForm, field: PasswordField) -> None:
    if field.data and (problem := password_problem(field.data)):
        raise ValidationError(problem)


class RegisterForm(FlaskForm):
    name = name_field()
    email = email_field()
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

    # A taken email is not the form's business: the view answers it (and
    # tells the address's owner) within the sign-in budget.

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


class ForgotPasswordForm(FlaskForm):
    email = email_field()


class ResetPasswordForm(FlaskForm):
    password, password_confirm = new_password_fields("New password")
    validate_password = _check_policy


class AccountForm(FlaskForm):
    """Name, email and password in one form; the current password is asked
    for only when the email or the password changes (the view checks it)."""

    name = name_field()
    email = email_field()
    current_password = PasswordField(
        "Current password", validators=[Length(max=PASSWORD_MAX)]
    )
    password, password_confirm = new_password_fields("New password", required=False)
    validate_password = _check_policy


class DeleteAccountForm(FlaskForm):
    # Its own id: the account form on the same page has a current_password too.
    current_password = PasswordField(
        "Current password",
        id="delete_current_password",
        validators=[
            InputRequired("Enter your password to delete your account."),
            Length(max=PASSWORD_MAX),
        ],
    )
    confirm = BooleanField(
        "I understand my account is deleted for good",
        validators=[DataRequired("Tick the box to delete your account.")],
    )


class ConfirmForm(FlaskForm):
    """One button (confirming a new email) with its CSRF token."""
