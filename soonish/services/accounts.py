"""Accounts: registration and sign-in."""
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from ..models import User, db
from .errors import Conflict, ValidationFailed

MIN_PASSWORD_LENGTH = 8


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed.field("email", str(exc)) from exc


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def has_users() -> bool:
    return db.session.scalar(select(User.id).limit(1)) is not None


def register(email: str, password: str, display_name: str = "") -> User:
    email = normalize_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed.field(
            "password", f"Use at least {MIN_PASSWORD_LENGTH} characters."
        )
    if find_user_by_email(email) is not None:
        raise Conflict("An account with this email already exists.", {"email": ["Already registered."]})
    user = User(email=email, display_name=display_name.strip()[:120])
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    try:
        email = normalize_email(email)
    except ValidationFailed:
        return None
    user = find_user_by_email(email)
    if user is None or not user.check_password(password):
        return None
    return user
