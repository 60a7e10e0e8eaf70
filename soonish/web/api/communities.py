"""Communities over JSON: create one, read and change it, its team (invite, change a role,
remove, leave, hand it on), its audit list, accept an invitation, follow one, and (its owners and
admins) see who follows it."""
from flask_login import current_user
from marshmallow import Schema, fields, validate

from soonish.domain.communities import Role
from soonish.field_limits import COMMUNITY_DESCRIPTION_MAX, COMMUNITY_NAME_MAX, COMMUNITY_SLUG_MAX
from soonish.domain.community_follows import MODE_LABELS, WEEKDAYS
from soonish.models import FollowMode
from soonish.services import communities as community_service
from soonish.services import community_follows as follow_service
from soonish.web.api.access import authorized
from soonish.web.api.base import ApiBlueprint
from soonish.web.api.paging import LINK_HEADER, PageArgs, page_schema, paged
from soonish.web.api.schemas import SelectorSchema

bp = ApiBlueprint("api_communities", __name__, url_prefix="/api/v1/communities",
                  description="Communities: a page that owns events and series, run by a team with roles")

ROLES = [role.value for role in Role]
ROLE_RULES = ("owner: everything, including handing the community on; admin: manage members and settings; "
              "host: create, edit and cancel the community's events and series, announce; announcer: announce only. "
              "A member gives or takes away only roles below their own (an owner any).")


class CommunityIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=COMMUNITY_NAME_MAX))
    slug = fields.String(required=True, validate=validate.Length(min=3, max=COMMUNITY_SLUG_MAX), metadata={
        "description": "Its address, /c/{slug}: lowercase letters, digits and dashes; not a reserved word, not "
                       "ending in a dash and digits (kept for personal communities)."})
    description = fields.String(load_default="", validate=validate.Length(max=COMMUNITY_DESCRIPTION_MAX))


class CommunityOut(Schema):
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()
    description = fields.String()
    personal = fields.Function(lambda c: c.personal_of_id is not None,
                               metadata={"description": "An organizer's own community, made for their first event."})
    url = fields.Function(lambda c: f"/c/{c.slug}")
    digest_weekday = fields.Integer(metadata={"description": "The day its digest followers hear what is coming: "
                                                             "0 Monday … 6 Sunday."})


class CommunityChangeIn(Schema):
    description = fields.String(validate=validate.Length(max=COMMUNITY_DESCRIPTION_MAX))
    digest_weekday = fields.Integer(strict=True, validate=validate.Range(min=0, max=6), metadata={
        "description": "The day its digest followers hear what is coming: " + ", ".join(
            f"{number} {name}" for number, name in enumerate(WEEKDAYS)) + "."})


MODES = [mode.value for mode in FollowMode]
MODE_HELP = "; ".join(f"{mode.value}: {label.lower()}" for mode, label in MODE_LABELS.items())


class FollowIn(Schema):
    mode = fields.String(load_default=FollowMode.NEW_EVENTS.value, validate=validate.OneOf(MODES),
                         metadata={"description": MODE_HELP})
    selectors = fields.List(fields.Nested(SelectorSchema), validate=validate.Length(max=20), metadata={
        "description": "Where its messages go (your channels or chat accounts); none: your email address."})


class FollowChangeIn(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(MODES), metadata={"description": MODE_HELP})


class FollowOut(Schema):
    community_id = fields.Integer()
    community = fields.Function(lambda f: f.community.slug, metadata={"description": "Its slug: /c/{slug}."})
    mode = fields.Function(lambda f: f.mode.value, metadata={"enum": MODES})
    status = fields.Function(lambda f: f.status.value, metadata={"enum": ["pending", "active"]})
    since = fields.DateTime(attribute="created_at")


FollowPage = page_schema(FollowOut, "CommunityFollowPage")


class FollowerOut(Schema):
    id = fields.Integer(metadata={"description": "The follow's id."})
    name = fields.Function(follow_service.follower_name, metadata={
        "description": "Their name if they gave one, else their address masked (a•••@example.com)."})
    address = fields.Function(follow_service.follower_address, metadata={
        "description": "Their address masked (a•••@example.com); null for a chat follower or a deleted account."})
    mode = fields.Function(lambda f: f.mode.value, metadata={"enum": MODES, "description": MODE_HELP})
    since = fields.Function(lambda f: (f.confirmed_at or f.created_at).isoformat(), metadata={
        "format": "date-time", "description": "When they began following (confirmed their address)."})


FollowerPage = page_schema(FollowerOut, "CommunityFollowerPage")


class MemberOut(Schema):
    user_id = fields.Integer()
    name = fields.Function(lambda m: community_service.member_name(m.user))
    role = fields.Function(lambda m: m.role.value, metadata={"enum": ROLES})
    since = fields.DateTime(attribute="created_at")


class InviteIn(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.String(required=True, validate=validate.OneOf(ROLES), metadata={"description": ROLE_RULES})


class InviteOut(Schema):
    id = fields.Integer()
    role = fields.Function(lambda i: i.role.value)
    expires_at = fields.DateTime()


class RoleIn(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES), metadata={"description": ROLE_RULES})


class TransferIn(Schema):
    user_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                             metadata={"description": "The member who becomes owner; you become an admin."})


class AcceptIn(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=500),
                          metadata={"description": "The token at the end of the invitation link."})


class AuditOut(Schema):
    action = fields.String()
    detail = fields.String()
    actor_id = fields.Integer(allow_none=True)
    at = fields.DateTime(attribute="created_at")


@bp.post("", access=authorized("communities:write"), body=CommunityIn, status=201, response=CommunityOut,
         errors=[409])
def create_community(data):
    """Make a community; you are its owner. At most `COMMUNITIES_OWNED_MAX` (50) owned per account."""
    return community_service.create_community(current_user, data["name"], data["slug"], data["description"])


@bp.get("/<int:community_id>", access=authorized("communities:read"), response=CommunityOut, errors=[404])
def get_community(community_id):
    """A community you are a member of."""
    return community_service.community_of_member(current_user, community_id)


@bp.patch("/<int:community_id>", access=authorized("communities:write"), body=CommunityChangeIn,
          response=CommunityOut, errors=[404])
def change_community(data, community_id):
    """Change a community's description or digest day (owners and admins)."""
    return community_service.change_community(current_user, community_id, data)


@bp.delete("/<int:community_id>", access=authorized("communities:write"), status=204, errors=[404, 409])
def delete_community(community_id):
    """Delete (archive) a community: its page goes, its upcoming events are cancelled and their
    followers told once, its series end. Owners only; a personal community can't be deleted."""
    community_service.delete_community(current_user, community_id)


@bp.get("/<int:community_id>/members", access=authorized("communities:read"), response=MemberOut(many=True),
        errors=[404])
def list_members(community_id):
    """Who runs the community, most powerful first."""
    return community_service.members(current_user, community_id)


@bp.post("/<int:community_id>/invites", access=authorized("communities:write"), body=InviteIn, status=201,
         response=InviteOut, errors=[404, 409])
def invite(data, community_id):
    """Mail an invitation link (signed, one use, valid 7 days) to help run the community in a role."""
    return community_service.invite(current_user, community_id, data["email"], data["role"])


@bp.post("/invites/accept", access=authorized("communities:write"), body=AcceptIn, response=CommunityOut,
         errors=[404, 410])
def accept_invite(data):
    """Join a community with an invitation's token. It works once: a used or expired one answers 410."""
    return community_service.accept_invite(current_user, data["token"])


@bp.patch("/<int:community_id>/members/<int:user_id>", access=authorized("communities:write"), body=RoleIn,
          response=MemberOut, errors=[404, 409])
def change_role(data, community_id, user_id):
    """Change a member's role (not your own). The last owner can't step down."""
    return community_service.change_role(current_user, community_id, user_id, data["role"])


@bp.delete("/<int:community_id>/members/<int:user_id>", access=authorized("communities:write"), status=204,
           errors=[404, 409])
def remove_member(community_id, user_id):
    """Remove a member, or leave (your own id). They lose their rights at their next request.
    The last owner can't leave: hand the community on first."""
    community_service.remove_member(current_user, community_id, user_id)


@bp.post("/<int:community_id>/transfer", access=authorized("communities:write"), body=TransferIn,
         response=MemberOut, errors=[404, 422])
def transfer(data, community_id):
    """Hand the community on to another member (owners only)."""
    return community_service.transfer(current_user, community_id, data["user_id"])


@bp.get("/<int:community_id>/audit", access=authorized("communities:read"), response=AuditOut(many=True),
        errors=[404])
def audit(community_id):
    """Who changed what in the community, and when, newest first (the latest 100)."""
    return community_service.audit_list(current_user, community_id)


# Following ------------------------------------------------------------------------------------------


@bp.get("/follows", access=authorized("communities:read"), query=PageArgs, response=FollowPage, headers=LINK_HEADER,
        errors=[422])
def my_follows(args):
    """The communities you follow (pending or active), oldest follow first, a page at a time."""
    return paged(follow_service.mine_page(current_user, args["limit"], args.get("cursor")))


@bp.get("/<int:community_id>/followers", access=authorized("communities:read"), query=PageArgs,
        response=FollowerPage, headers=LINK_HEADER, errors=[403, 404, 422])
def followers(args, community_id):
    """Who follows the community and how, oldest follow first, a page at a time; addresses
    masked. Owners and admins only (a host or announcer gets 403, anyone else 404)."""
    _community, page = follow_service.followers_page(current_user, community_id, args["limit"], args.get("cursor"))
    return paged(page)


@bp.post("/<int:community_id>/follow", access=authorized("communities:write"), body=FollowIn, status=201,
         response=FollowOut, errors=[404, 422])
@bp.alt_response(200, schema=FollowOut, description="You followed it already: the mode (and routes) given now apply.")
def follow(data, community_id):
    """Follow a community (one whose page is public) with one of three modes; following again
    changes the mode. Its new public events reach you once each, after the update-coalescing window."""
    community = follow_service.followable(community_id=community_id)
    follow, began = follow_service.follow(current_user, community, data["mode"], data.get("selectors"))
    return follow, 201 if began else 200


@bp.get("/<int:community_id>/follow", access=authorized("communities:read"), response=FollowOut, errors=[404])
def get_follow(community_id):
    """Your follow of this community (404 when you don't follow it)."""
    return follow_service.own_follow(current_user, community_id)


@bp.patch("/<int:community_id>/follow", access=authorized("communities:write"), body=FollowChangeIn,
          response=FollowOut, errors=[404, 422])
def change_follow(data, community_id):
    """Change what following brings."""
    return follow_service.change_mode(follow_service.own_follow(current_user, community_id), data["mode"])


@bp.delete("/<int:community_id>/follow", access=authorized("communities:write"), status=204, errors=[404])
def unfollow(community_id):
    """Stop following: nothing more about its new events (events followed through it stay followed)."""
    follow_service.unfollow(follow_service.own_follow(current_user, community_id))
