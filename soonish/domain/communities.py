"""Communities and their roles: the one place answering "may this person do X to this event,
series or community?". Every event and series check (pages, API, chat) asks ``may``; nothing
compares ``organizer_id`` to decide a right any more.

Roles, from most to least: owner (everything, including deleting the community and handing it
on), admin (manage members and settings, see the followers), host (create, edit and cancel the community's events
and series, announce), announcer (announce only). Any member sees the community's private and
unlisted events and how their messages went."""
import enum
import re

from sqlalchemy import func, select

from soonish.i18n import _l
from soonish.field_limits import COMMUNITY_NAME_MAX, COMMUNITY_SLUG_MAX
from soonish.models import (
    Community, CommunityAudit, CommunityMember, CommunityRole, Event, Series, User, UniqueKeyTaken, db,
)

Role = CommunityRole


class Action(str, enum.Enum):
    VIEW_PRIVATE = "view private events"
    SEE_DELIVERIES = "see how messages went"
    ANNOUNCE = "announce"
    CREATE_EVENT = "create events"
    EDIT_EVENT = "edit events"
    CANCEL_EVENT = "cancel events"
    EDIT_COMMUNITY = "edit the community"
    MANAGE_MEMBERS = "manage members"
    SEE_FOLLOWERS = "see the followers"
    TRANSFER = "hand the community on"
    DELETE_COMMUNITY = "delete the community"


_EVERYONE = frozenset(Role)
_HOSTS = frozenset({Role.OWNER, Role.ADMIN, Role.HOST})
_ADMINS = frozenset({Role.OWNER, Role.ADMIN})
_OWNER = frozenset({Role.OWNER})

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.VIEW_PRIVATE: _EVERYONE,
    Action.SEE_DELIVERIES: _EVERYONE,
    Action.ANNOUNCE: _EVERYONE,
    Action.CREATE_EVENT: _HOSTS,
    Action.EDIT_EVENT: _HOSTS,
    Action.CANCEL_EVENT: _HOSTS,
    Action.EDIT_COMMUNITY: _ADMINS,
    Action.MANAGE_MEMBERS: _ADMINS,
    Action.SEE_FOLLOWERS: _ADMINS,
    Action.TRANSFER: _OWNER,
    Action.DELETE_COMMUNITY: _OWNER,
}

# Higher ranks more. A member grants, changes or removes only roles below their own (an owner
# any), so nobody raises their own role or outranks whoever let them in.
RANK = {Role.ANNOUNCER: 1, Role.HOST: 2, Role.ADMIN: 3, Role.OWNER: 4}

# Slugs that name (or may one day name) a page of Soonish's own under /c/.
RESERVED_SLUGS = frozenset({
    "new", "api", "admin", "settings", "edit", "members", "invites", "invite", "feed", "embed", "follow", "follows",
    "soonish", "help", "about", "login", "logout", "signup", "static", "oembed", "hosts", "events", "series",
})
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,58}[a-z0-9])$")
PERSONAL_TAIL = re.compile(r"-[0-9]+$")


def role_in(user: User | None, community_id: int) -> Role | None:
    if user is None or not user.is_authenticated:
        return None
    return db.session.scalar(select(CommunityMember.role).where(
        CommunityMember.community_id == community_id, CommunityMember.user_id == user.id))


def role_for(user: User | None, row: Event | Series | Community) -> Role | None:
    """``user``'s role in what owns ``row`` (its community, or the community itself). Read at
    every request, so a removed host loses their rights at their next one. A row made outside
    any community (before communities, by code that gives none) is its organizer's as owner."""
    if isinstance(row, Community):
        return role_in(user, row.id)
    if row.community_id is not None:
        return role_in(user, row.community_id)
    if user is not None and user.is_authenticated and user.id == row.organizer_id:
        return Role.OWNER
    return None


def may(user: User | None, action: Action, row: Event | Series | Community) -> bool:
    role = role_for(user, row)
    return role is not None and role in ALLOWED[action]


def may_grant(granter: Role | None, role: Role) -> bool:
    """Whether a member with role ``granter`` may give ``role`` to someone (or take it away)."""
    return granter is not None and (granter == Role.OWNER or RANK[role] < RANK[granter])


def owner_count(community_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(CommunityMember).where(
        CommunityMember.community_id == community_id, CommunityMember.role == Role.OWNER)) or 0


def owned_count(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(CommunityMember).where(
        CommunityMember.user_id == user.id, CommunityMember.role == Role.OWNER)) or 0


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` can't be a community's address, or None. Ending in a dash and digits is kept
    for personal communities (``ada-12``), so a chosen address never takes one of theirs."""
    if not SLUG_PATTERN.match(slug):
        return _l("Use 3 to %(count)s lowercase letters, digits and dashes, starting and ending with a "
                  "letter or digit.", count=COMMUNITY_SLUG_MAX)
    if slug in RESERVED_SLUGS or PERSONAL_TAIL.search(slug):
        return _l("“%(slug)s” is reserved; pick another.", slug=slug)
    return None


def slug_from(name: str, suffix: str = "") -> str:
    """An address for a community named ``name``, with ``suffix`` (the person's id for personal
    ones, so they are unique) within the length."""
    tail = f"-{suffix}" if suffix else ""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:COMMUNITY_SLUG_MAX - len(tail)].strip("-")
    return f"{base or 'host'}{tail}"


def personal_name(user: User) -> str:
    return (user.display_name or "").strip()[:COMMUNITY_NAME_MAX] or f"Host {user.id}"


def personal_community(user: User) -> Community:
    """``user``'s own community, made on their first event or series (with them as its owner):
    where their events go unless they pick another community they host. Two first events made
    at once make one: the second insert meets the unique ``personal_of_id`` and reads the first's."""
    found = db.session.scalar(select(Community).where(Community.personal_of_id == user.id))
    if found is not None:
        return found
    try:
        with db.session.begin_nested():
            community = Community(slug=slug_from(user.display_name or "", str(user.id)), name=personal_name(user),
                                  personal_of_id=user.id)
            db.session.add(community)
            db.session.flush()
            db.session.add(CommunityMember(community_id=community.id, user_id=user.id, role=Role.OWNER))
            db.session.flush()
    except UniqueKeyTaken:
        found = db.session.scalar(select(Community).where(Community.personal_of_id == user.id))
        if found is None:
            raise
        return found
    return community


def audit(community_id: int, actor: User | None, action: str, detail: str = "") -> None:
    """Note a change on the community's audit list, in the caller's transaction."""
    db.session.add(CommunityAudit(community_id=community_id, actor_id=actor.id if actor else None,
                                  action=action, detail=detail[:300]))
