"""The store's password policy, shared by sign-up and `flask create-admin`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from app.limits import PASSWORD_MAX, PASSWORD_MIN


@cache
def common_passwords() -> frozenset[str]:
    path = Path(__file__).parent / "data" / "common-passwords.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip() for line in lines if line.strip() and not line.startswith("#")
    )


def password_problem(password: str) -> str | None:
    """Why a password is refused, or None when it is acceptable."""
    if len(password) < PASSWORD_MIN:
        return f"Use at least {PASSWORD_MIN} characters."
    if len(password) > PASSWORD_MAX:
        return f"Use at most {PASSWORD_MAX} characters."
    if password.lower() in common_passwords():
        return "That password is too common; choose another."
    return None
