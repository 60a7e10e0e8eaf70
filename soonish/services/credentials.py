"""Passwords, addresses and sessions: forgot password, change password or email (with an undo
for the old address), and "sign out everywhere".

Every signed link here carries the user's token epoch: a reset, a revoke or a deletion bumps
it, so a link works once and an older link stops working as soon as the account's sessions are
renewed. Mails go through the transactional mail workflow like the verify and confirm mails.
"""
from flask import current_app

from soonish.domain.delivery.mail import OneOffKind
from soonish.links import LinkInvalid, LinkPurpose, unsign
from soonish.models import SuppressedAddress, User, db
from soonish.services import api_keys
from soonish.services.accounts import _check_password, find_user_by_email, normalize_email
from soonish.services.errors import Conflict, NotFound, ValidationFailed
from soonish.domain import mail_reputation, outbox
from soonish.i18n import _l


def revoke_sessions(user: User) -> None:
    """Sign out every session and refuse every JWT issued before now (the caller's too).
    Personal API keys keep working (see ``api_keys.revoke_all``): each is revoked on its own."""
    user.token_epoch += 1
    db.session.commit()


def request_password_reset(email: str) -> None:
    """Mail a reset link if the address has an account. The answer is the same either way, and
    so is the work done here (one lookup, one outbox row committed: with the account's id, or 0
    for none, which the drain then finds nothing to send for), so neither the reply nor its
    timing tells whether someone has an account. The row carries the id, not the address."""
    try:
        address = normalize_email(email)
    except ValidationFailed:
        return
    user = find_user_by_email(address)
    outbox.one_off_mail(OneOffKind.RESET_PASSWORD, user.id if user else 0)
    db.session.commit()


def user_for_reset(token: str) -> User:
    """The account a reset link is for; NotFound (with a reason people understand) otherwise."""
    return _user_from_epoch_link(LinkPurpose.RESET_PASSWORD, token, _l("Ask for a new reset link."))


def reset_password(token: str, password: str) -> User:
    """Set a new password from a reset link, once: it signs out every other session, refuses
    every older JWT (the epoch moves, which also spends the link) and revokes every API key:
    whoever knew the old password may have made keys."""
    user = user_for_reset(token)
    _check_password(password)
    user.set_password(password)
    user.is_verified = True  # the link proved the mailbox
    user.token_epoch += 1
    api_keys.revoke_all(user)
    db.session.commit()
    return user


def change_password(user: User, current_password: str, new_password: str) -> User:
    """The current password must be right. Every other session is signed out; the caller signs
    this one in again under the new epoch."""
    if not user.check_password(current_password or ""):
        raise ValidationFailed.field("current_password", _l("That isn't your current password."))
    _check_password(new_password)
    user.set_password(new_password)
    user.token_epoch += 1
    db.session.commit()
    return user


def request_email_change(user: User, new_email: str, current_password: str) -> str:
    """Mail a confirm link to the new address; nothing changes until it is opened."""
    if not user.check_password(current_password or ""):
        raise ValidationFailed.field("current_password", _l("That isn't your current password."))
    address = normalize_email(new_email)
    if address == user.email:
        raise ValidationFailed.field("email", _l("That is already your address."))
    if find_user_by_email(address) is not None:
        raise Conflict(_l("That address belongs to another account."), {"email": ["Already in use."]})
    outbox.one_off_mail(OneOffKind.CHANGE_EMAIL, user.id, address)
    db.session.commit()
    return address


def confirm_email_change(token: str) -> User:
    """Switch to the new address the link was mailed to, and tell the old one (with an undo)."""
    user, old, moved = _switch_address(
        LinkPurpose.CHANGE_EMAIL, token, _l("Change your address again from your account page."), back=False,
        stale=_l("This link is out of date: your address changed since it was sent."),
        taken=_l("That address belongs to another account now."))
    if moved:
        user.is_verified = True
        outbox.one_off_mail(OneOffKind.EMAIL_CHANGED, user.id, old)
        db.session.commit()
    return user


def undo_email_change(token: str) -> User:
    """From the notice to the old address: put it back, sign out everywhere and revoke every
    API key, in case the change was not the owner's doing."""
    user, _new, moved = _switch_address(LinkPurpose.UNDO_EMAIL_CHANGE, token, "", back=True,
                                        stale=_l("This link is out of date: the address changed again since."),
                                        taken=_l("Your old address belongs to another account now."))
    if moved:
        user.token_epoch += 1
        api_keys.revoke_all(user)
        db.session.commit()
    return user


def _switch_address(purpose: str, token: str, again, back: bool, stale, taken) -> tuple[User, str, bool]:
    """The account an address-change link names, switched from the link's old address to its new
    one (``back``: from the new to the old): (the account, the address it left, and whether it
    switched now; not when the link was opened before). Refused once the address is another
    (``stale``) or another account has the one to switch to (``taken``)."""
    user_id, old, new = _unsign_fields(purpose, token, current_app.config["CONFIRM_LINK_MAX_AGE"], again)
    source, target = (new, old) if back else (old, new)
    user = _live_user(user_id)
    if user.email == target:
        return user, source, False  # opened twice
    if user.email != source:
        raise NotFound(stale)
    if find_user_by_email(target) is not None:
        raise Conflict(taken, {"email": ["Already in use."]})
    user.email = target
    return user, source, True


def user_for_deletion_link(token: str) -> User:
    return _user_from_epoch_link(LinkPurpose.DELETE_ACCOUNT, token,
                                 _l("Ask for a new link from your account page."))


def request_deletion_link(user: User) -> None:
    outbox.one_off_mail(OneOffKind.DELETE_ACCOUNT, user.id)
    db.session.commit()


def mail_suppression(user: User) -> SuppressedAddress | None:
    """Why mail to the account's address stopped, when it did (the account page offers to lift it)."""
    return mail_reputation.suppression_of(user.email) if user.email else None


def request_lift_link(user: User) -> None:
    """Mail the suppressed address a link that lifts its suppression: the one mail a suppressed
    address gets, because its owner asked for it here."""
    if mail_suppression(user) is None:
        raise Conflict(_l("Mail to your address is not stopped: there is nothing to lift."))
    outbox.one_off_mail(OneOffKind.LIFT_SUPPRESSION, user.id)
    db.session.commit()


_LIFT_AGAIN = _l("Ask for a new link from your account page.")


def suppression_for_lift_link(token: str) -> tuple[User, SuppressedAddress]:
    """The account and the suppression a lift link was made for; refused once lifted (the link
    works once), when the address changed, or when it was suppressed again since."""
    user_id, mark = _unsign_fields(LinkPurpose.LIFT_SUPPRESSION, token,
                                   current_app.config["ACCOUNT_LINK_MAX_AGE"], _LIFT_AGAIN)
    user = _live_user(user_id)
    entry = mail_suppression(user)
    if entry is None or mail_reputation.suppression_mark(entry) != mark:
        raise _link_refused(_l("This link has already been used."), _LIFT_AGAIN)
    return user, entry


def lift_from_link(token: str) -> User:
    """Opened and confirmed from the mailbox: the address works, mail goes to it again."""
    user, entry = suppression_for_lift_link(token)
    if not mail_reputation.lift(user.email, mail_reputation.suppression_mark(entry)):  # another tab confirmed it first
        raise _link_refused(_l("This link has already been used."), _LIFT_AGAIN)
    db.session.commit()
    return user


def _user_from_epoch_link(purpose: str, token: str, again) -> User:
    user_id, epoch = _unsign_fields(purpose, token, current_app.config["ACCOUNT_LINK_MAX_AGE"], again)
    user = _live_user(user_id)
    if epoch != user.token_epoch:
        raise _link_refused(_l("This link has already been used."), again)
    return user


def _link_refused(reason, again) -> NotFound:
    """Why a link failed, and what to do instead when there is something to do."""
    return NotFound(_l("%(reason)s %(again)s", reason=reason, again=again) if again else reason)


def _unsign_fields(purpose: str, token: str, max_age: int, again) -> list:
    try:
        fields = unsign(current_app.config["SECRET_KEY"], purpose, token, max_age)
    except LinkInvalid as exc:
        raise _link_refused(_l("This link has expired.") if exc.expired else _l("This link is not valid."),
                            again) from exc
    if not isinstance(fields, list):
        raise NotFound(_l("This link is not valid."))
    return fields


def _live_user(user_id) -> User:
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or user.erased_at is not None:
        raise NotFound(_l("This account no longer exists."))
    return user
