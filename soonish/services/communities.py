"""Communities: their public page, and who runs them. The rules (roles, what each may do, the
last owner, slugs) are soonish/domain/communities.py; this validates, authorizes and commits."""
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from soonish.domain import communities as rules
from soonish.domain import outbox
from soonish.domain.communities import Action, Role
from soonish.domain.delivery.mail import OneOffKind
from soonish.field_limits import COMMUNITY_DESCRIPTION_MAX, COMMUNITY_NAME_MAX
from soonish.links import LinkInvalid, LinkPurpose, unsign
from soonish.models import (
    Community, CommunityAudit, CommunityInvite, CommunityMember, Event, EventStatus, Series, SeriesStatus, User,
    Visibility, UniqueKeyTaken, db, lock_for_change, utcnow,
)
from soonish.domain.privacy import mask_address
from soonish.services.accounts import normalize_email
from soonish.services.errors import Conflict, Forbidden, Gone, NotFound, ValidationFailed
from soonish.services.events import list_upcoming_public_events, mark_cancelled, permitted, tell_cancelled
from soonish.i18n import _l, format_number

PAST_SHOWN = 20


@dataclass
class CommunityPage:
    community: Community
    upcoming: list[Event]
    past: list[Event]


def _has_public_event(community: Community) -> bool:
    return db.session.scalar(select(Event.id).where(
        Event.community_id == community.id, Event.visibility == Visibility.PUBLIC).limit(1)) is not None


def community_page(slug: str) -> CommunityPage:
    """A community's public page: its upcoming public events, soonest first, and its latest past
    ones. A personal community is shown only once it has published a public event (as host pages
    were): the name of someone who only follows or keeps private events is nobody's business."""
    community = db.session.scalar(select(Community).where(Community.slug == slug))
    if community is None or community.archived_at is not None or (
            community.personal_of_id is not None and not _has_public_event(community)):
        raise NotFound(_l("No such community."))
    past = list(db.session.scalars(
        select(Event).where(Event.community_id == community.id, Event.visibility == Visibility.PUBLIC,
                            Event.status != EventStatus.CANCELLED, Event.starts_at < utcnow())
        .order_by(Event.starts_at.desc()).limit(PAST_SHOWN)
    ))
    return CommunityPage(community, list_upcoming_public_events(community_id=community.id), past)


def personal_community_slug(host_id: int) -> str:
    """Where /hosts/<id> now leads: the host's personal community, if it has a page."""
    community = db.session.scalar(select(Community).where(Community.personal_of_id == host_id))
    if community is None or not _has_public_event(community):
        raise NotFound(_l("No such host."))
    return community.slug


# Running a community ---------------------------------------------------------------------------


def _community(actor: User, community_id: int, action: Action) -> Community:
    """The community if ``actor``'s role allows ``action``; a stranger finds none."""
    community = db.session.get(Community, community_id)
    if community is None or community.archived_at is not None or rules.role_in(actor, community.id) is None:
        raise NotFound(_l("No such community."))
    return permitted(actor, action, community, "community")


def create_community(actor: User, name: str, slug: str, description: str = "") -> Community:
    name, slug, description = (name or "").strip(), (slug or "").strip().lower(), (description or "").strip()
    errors = {}
    if not name or len(name) > COMMUNITY_NAME_MAX:
        errors["name"] = [_l("Give it a name (up to %(count)s characters).", count=COMMUNITY_NAME_MAX)]
    if (problem := rules.slug_problem(slug)) is not None:
        errors["slug"] = [problem]
    if len(description) > COMMUNITY_DESCRIPTION_MAX:
        errors["description"] = [_description_too_long()]
    if errors:
        raise ValidationFailed(_l("Some fields need attention."), errors)
    limit = int(current_app.config["COMMUNITIES_OWNED_MAX"])
    if rules.owned_count(actor) >= limit:
        raise Conflict(_l("You own %(count)s communities, the most one account may.", count=limit), {"communities": [f"at most {limit}"]})
    taken_message = _l("That address is taken; pick another.")
    taken = Conflict(taken_message, {"slug": [taken_message]})
    if db.session.scalar(select(Community.id).where(Community.slug == slug)) is not None:
        raise taken
    community = Community(slug=slug, name=name, description=description)
    try:
        with db.session.begin_nested():
            db.session.add(community)
            db.session.flush()
    except UniqueKeyTaken as exc:  # another request took the slug meanwhile
        raise taken from exc
    db.session.add(CommunityMember(community_id=community.id, user_id=actor.id, role=Role.OWNER))
    rules.audit(community.id, actor, "created", f"created {name}")
    db.session.commit()
    return community


def change_community(actor: User, community_id: int, changes: dict) -> Community:
    """Change the description or the digest day (0 Monday … 6 Sunday)."""
    community = _community(actor, community_id, Action.EDIT_COMMUNITY)
    if "description" in changes:
        description = (changes["description"] or "").strip()
        if len(description) > COMMUNITY_DESCRIPTION_MAX:
            raise ValidationFailed.field("description", _description_too_long())
        community.description = description
    if "digest_weekday" in changes:
        if changes["digest_weekday"] not in range(7):
            raise ValidationFailed.field("digest_weekday", _l("A day of the week: 0 Monday … 6 Sunday."))
        community.digest_weekday = changes["digest_weekday"]
    rules.audit(community.id, actor, "changed", ", ".join(sorted(changes)) or "nothing")
    db.session.commit()
    return community


def hosted_by(actor: User) -> list[Community]:
    """The open communities, beside their personal one, where ``actor`` may create events: the
    choices of the new-event form."""
    return list(db.session.scalars(select(Community).join(CommunityMember).where(
        CommunityMember.user_id == actor.id, CommunityMember.role.in_(rules.ALLOWED[Action.CREATE_EVENT]),
        Community.personal_of_id.is_(None), Community.archived_at.is_(None)).order_by(Community.name, Community.id)))


def role_of(actor: User, community: Community) -> Role | None:
    return rules.role_in(actor, community.id)


def community_at(actor: User, slug: str, action: Action) -> Community:
    """The community at /c/<slug> for its manage pages, if ``actor``'s role allows ``action``."""
    community_id = db.session.scalar(select(Community.id).where(Community.slug == slug))
    if community_id is None:
        raise NotFound(_l("No such community."))
    return _community(actor, community_id, action)


def community_of_member(actor: User, community_id: int, action: Action = Action.SEE_DELIVERIES) -> Community:
    """The community if ``actor`` is a member whose role allows ``action`` (any member may read it)."""
    return _community(actor, community_id, action)


def members(actor: User, community_id: int) -> list[CommunityMember]:
    """Who runs the community, most powerful first; for its members."""
    _community(actor, community_id, Action.SEE_DELIVERIES)
    rows = db.session.scalars(select(CommunityMember).where(CommunityMember.community_id == community_id)
                              .options(selectinload(CommunityMember.user)))
    return sorted(rows, key=lambda m: (-rules.RANK[m.role], m.id))


def audit_list(actor: User, community_id: int, limit: int = 100) -> list[CommunityAudit]:
    """Who changed what in the community, newest first; for its members."""
    _community(actor, community_id, Action.SEE_DELIVERIES)
    return list(db.session.scalars(
        select(CommunityAudit).where(CommunityAudit.community_id == community_id)
        .options(selectinload(CommunityAudit.actor))
        .order_by(CommunityAudit.id.desc()).limit(limit)
    ))


def _description_too_long():
    return _l("Keep the description under %(count)s characters.", count=format_number(COMMUNITY_DESCRIPTION_MAX))


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationFailed.field("role", _l("Choose one of: %(choices)s.", choices=", ".join(r.value for r in Role))) from None


def _may_grant_or_refuse(actor_role: Role, role: Role) -> None:
    if not rules.may_grant(actor_role, role):
        raise Forbidden(_l("As %(actor_role)s you can't give or take away the role %(role)s.",
                           actor_role=actor_role.value, role=role.value),
                        {"role": [role.value]})


def _room_for_one_more(community: Community) -> None:
    limit = int(current_app.config["COMMUNITY_MEMBERS_MAX"])
    count = db.session.scalar(select(func.count()).select_from(CommunityMember)
                              .where(CommunityMember.community_id == community.id))
    if count >= limit:
        raise Conflict(_l("A community has at most %(count)s members.", count=format_number(limit)), {"members": [f"at most {limit}"]})


def invite(actor: User, community_id: int, email: str, role: str) -> CommunityInvite:
    """Mail ``email`` a link (signed, one use, good for 7 days) to run the community as ``role``."""
    community = _community(actor, community_id, Action.MANAGE_MEMBERS)
    wanted = _role(role)
    _may_grant_or_refuse(rules.role_in(actor, community.id), wanted)
    address = normalize_email(email or "")
    _room_for_one_more(community)
    max_age = timedelta(seconds=int(current_app.config["COMMUNITY_INVITE_MAX_AGE"]))
    invitation = CommunityInvite(community_id=community.id, email=address, role=wanted, invited_by_id=actor.id,
                                 expires_at=utcnow() + max_age)
    db.session.add(invitation)
    db.session.flush()
    rules.audit(community.id, actor, "invited", f"invited {mask_address(address)} as {wanted.value}")
    outbox.one_off_mail(OneOffKind.COMMUNITY_INVITE, invitation.id)
    db.session.commit()
    return invitation


def invite_from_token(token: str) -> CommunityInvite:
    """The invitation a link names, if the link is ours and not older than 7 days."""
    try:
        invite_id = unsign(current_app.config["SECRET_KEY"], LinkPurpose.COMMUNITY_INVITE, token,
                           max_age=int(current_app.config["COMMUNITY_INVITE_MAX_AGE"]))
    except LinkInvalid as exc:
        raise Gone(_l("This invitation has expired; ask for a new one.") if exc.expired
                   else _l("This invitation link is not valid.")) from exc
    invitation = db.session.get(CommunityInvite, invite_id) if isinstance(invite_id, int) else None
    if invitation is None:
        raise NotFound(_l("No such invitation."))
    return invitation


def accept_invite(user: User, token: str) -> Community:
    """Join the community in the invitation's role. The link works once: of two acceptances at
    once, the conditional UPDATE lets one through and the other is told it was used."""
    invitation = invite_from_token(token)
    now = utcnow()
    taken = db.session.execute(
        update(CommunityInvite)
        .where(CommunityInvite.id == invitation.id, CommunityInvite.accepted_at.is_(None),
               CommunityInvite.expires_at > now)
        .values(accepted_at=now, accepted_by_id=user.id)
    ).rowcount
    if taken != 1:
        db.session.rollback()
        raise Gone(_l("This invitation was already used or has expired; ask for a new one."))
    community = invitation.community
    member = db.session.scalar(select(CommunityMember).where(CommunityMember.community_id == community.id,
                                                             CommunityMember.user_id == user.id))
    if member is None:
        _room_for_one_more(community)
        db.session.add(CommunityMember(community_id=community.id, user_id=user.id, role=invitation.role))
    elif rules.RANK[invitation.role] > rules.RANK[member.role]:
        member.role = invitation.role
    rules.audit(community.id, user, "joined", f"{member_name(user)} joined as {invitation.role.value}")
    db.session.commit()
    return community


def _member(community_id: int, user_id: int) -> CommunityMember:
    member = db.session.scalar(select(CommunityMember).where(CommunityMember.community_id == community_id,
                                                             CommunityMember.user_id == user_id))
    if member is None:
        raise NotFound(_l("No such member of this community."))
    return member


def _keep_an_owner(community: Community, leaving: CommunityMember) -> None:
    """Refuse when ``leaving`` is the community's last owner. The community row is locked first,
    so two owners leaving at once take turns and the second is refused."""
    lock_for_change(community)
    if leaving.role == Role.OWNER and rules.owner_count(community.id) <= 1:
        raise Conflict(_l("The last owner can't leave or step down: hand the community on first."),
                       {"role": ["last owner"]})


def change_role(actor: User, community_id: int, user_id: int, role: str) -> CommunityMember:
    community = _community(actor, community_id, Action.MANAGE_MEMBERS)
    wanted = _role(role)
    if user_id == actor.id:
        raise Forbidden(_l("You can't change your own role."), {"role": ["your own"]})
    member = _member(community.id, user_id)
    actor_role = rules.role_in(actor, community.id)
    _may_grant_or_refuse(actor_role, member.role)
    _may_grant_or_refuse(actor_role, wanted)
    if member.role == wanted:
        return member
    _keep_an_owner(community, member)
    before, member.role = member.role, wanted
    rules.audit(community.id, actor, "role changed", f"{member_name(member.user)}: {before.value} → {wanted.value}")
    db.session.commit()
    return member


def remove_member(actor: User, community_id: int, user_id: int) -> None:
    """Take someone off the community's team (yourself: ``leave``). They lose their rights at
    their next request: every check reads the roles afresh."""
    if user_id == actor.id:
        return leave(actor, community_id)
    community = _community(actor, community_id, Action.MANAGE_MEMBERS)
    member = _member(community.id, user_id)
    _may_grant_or_refuse(rules.role_in(actor, community.id), member.role)
    _keep_an_owner(community, member)
    db.session.delete(member)
    rules.audit(community.id, actor, "removed", f"removed {member_name(member.user)} ({member.role.value})")
    db.session.commit()


def leave(actor: User, community_id: int) -> None:
    community = _community(actor, community_id, Action.SEE_DELIVERIES)
    member = _member(community.id, actor.id)
    _keep_an_owner(community, member)
    db.session.delete(member)
    rules.audit(community.id, actor, "left", f"{member_name(actor)} left ({member.role.value})")
    db.session.commit()


def transfer(actor: User, community_id: int, user_id: int) -> CommunityMember:
    """Hand the community on: ``user_id`` (a member) becomes owner and ``actor`` an admin."""
    community = _community(actor, community_id, Action.TRANSFER)
    if user_id == actor.id:
        raise ValidationFailed.field("user_id", _l("Hand it on to another member."))
    member = _member(community.id, user_id)
    lock_for_change(community)
    member.role = Role.OWNER
    _member(community.id, actor.id).role = Role.ADMIN
    rules.audit(community.id, actor, "transferred", f"{member_name(actor)} handed ownership to {member_name(member.user)}")
    db.session.commit()
    return member


def delete_community(actor: User, community_id: int) -> None:
    """Archive the community: its page goes, its upcoming events are cancelled (each follower
    told once, as for any cancellation) and its series end. A personal community stays: it is
    where its owner's events go."""
    community = _community(actor, community_id, Action.DELETE_COMMUNITY)
    if community.personal_of_id is not None:
        raise Conflict(_l("Your personal community can't be deleted: it is where your events go."),
                       {"community": ["personal"]})
    lock_for_change(community)
    community.archived_at = utcnow()
    db.session.execute(update(Series).where(Series.community_id == community.id)
                       .values(status=SeriesStatus.CANCELLED))
    cancelled = [(event, mark_cancelled(event, actor, body=f"{community.name} has closed, and this event is cancelled."))
                 for event in db.session.scalars(select(Event).where(
                     Event.community_id == community.id, Event.status == EventStatus.SCHEDULED))]
    rules.audit(community.id, actor, "deleted", f"deleted {community.name}")
    db.session.commit()
    for event, notification in cancelled:
        tell_cancelled(event, notification)


def member_name(user: User | None) -> str:
    """How a member is shown to the rest of the team: their name, else their address masked."""
    if user is None:
        return "someone"
    return user.display_name or mask_address(user.email) or f"account {user.id}"
