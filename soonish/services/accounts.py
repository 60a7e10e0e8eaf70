"""Accounts: registration and sign-in."""
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select

from soonish import i18n
from soonish.links import LinkPurpose, unsign
from soonish.field_limits import BIO_MAX, DISPLAY_NAME_MAX
from soonish.models import User, db
from soonish.services.errors import Conflict, NotFound, ValidationFailed, reading_link
from soonish.domain import outbox
from soonish.domain.delivery.mail import OneOffKind
from soonish.i18n import _l

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


@dataclass
class Registration:
    """``user`` is signed in now; or, when the address already follows events anonymously,
    ``user`` is None and a link to claim it went to that address."""

    user: User | None


def register(email: str, password: str, display_name: str = "") -> Registration:
    email = normalize_email(email)
    _check_password(password)
    existing = find_user_by_email(email)
    if existing is not None and existing.password_hash is not None:
        raise Conflict(_l("An account with this email already exists."), {"email": ["Already registered."]})
    if existing is not None:
        # Someone follows events with this address but has no password. Only the owner of the
        # mailbox may turn it into an account (and see those subscriptions): mail them a link.
        _send_verification(existing)
        db.session.commit()
        return Registration(None)
    user = User(email=email, display_name=display_name.strip()[:DISPLAY_NAME_MAX])
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    _send_verification(user)
    db.session.commit()
    return Registration(user)


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationFailed.field("password", _l("Use at least %(count)s characters.", count=MIN_PASSWORD_LENGTH))


def _send_verification(user: User) -> None:
    outbox.one_off_mail(OneOffKind.VERIFY, user.id)


def user_from_verify_link(token: str) -> User:
    with reading_link(_l("This link has expired.")):
        user_id = int(unsign(current_app.config["SECRET_KEY"], LinkPurpose.VERIFY_EMAIL, token,
                             current_app.config["CONFIRM_LINK_MAX_AGE"]))
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_l("This account no longer exists."))
    return user


def verify_email(user: User, password: str | None = None) -> User:
    """Mark the address proven. A user without a password (an anonymous subscriber claiming
    the address) sets one now; their subscriptions are already theirs."""
    if user.password_hash is None:
        _check_password(password or "")
        user.set_password(password)
    user.is_verified = True
    db.session.commit()
    return user


def set_profile(user: User, display_name: str, bio: str) -> User:
    """The name and the few words shown beside the events ``user`` hosts (and among those going)."""
    display_name, bio = display_name.strip(), bio.strip()
    if len(display_name) > DISPLAY_NAME_MAX:
        raise ValidationFailed.field("display_name", _l("Keep the name under %(count)s characters.", count=DISPLAY_NAME_MAX))
    if len(bio) > BIO_MAX:
        raise ValidationFailed.field("bio", _l("Keep it under %(count)s characters.", count=BIO_MAX))
    user.display_name, user.bio = display_name, bio
    db.session.commit()
    return user


def set_email_fallback(user: User, on: bool) -> User:
    """Whether a chat DM that can't reach ``user`` (DMs closed, account gone) is mailed to their
    verified email instead."""
    user.email_fallback = bool(on)
    db.session.commit()
    return user


def set_locale(user: User, locale: str | None) -> User:
    """The language ``user`` reads Soonish in (one of i18n.SUPPORTED_LOCALES); None or "": their
    browser's Accept-Language decides."""
    chosen = i18n.supported(locale) if locale else None
    if locale and chosen is None:
        raise ValidationFailed.field("locale", _l("Choose one of: %(choices)s.", choices=", ".join(i18n.SUPPORTED_LOCALES)))
    user.locale = chosen
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
