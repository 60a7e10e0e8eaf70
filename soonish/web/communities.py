"""A community's public page (/c/<slug>) with its follow box, where a host's old page leads,
accepting an invitation to help run one, and the links in a community's mails (confirm a
follow, change or end it, follow an event it told of in one tap)."""
from flask import Blueprint, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length

from soonish.domain import share
from soonish.domain.communities import Action, Role, may, may_grant
from soonish.field_limits import COMMUNITY_DESCRIPTION_MAX, COMMUNITY_NAME_MAX, COMMUNITY_SLUG_MAX
from soonish.domain.community_follows import MODE_LABELS
from soonish.domain.messages import when_text
from soonish.i18n import _, _l
from soonish.links import public_url
from soonish.services import communities as community_service
from soonish.services import calendar as calendar_service
from soonish.services import community_feeds
from soonish.services import community_follows as follow_service
from soonish.services.errors import ValidationFailed
from soonish.web.auth import current_user_or_none, one_click_link
from soonish.web.errors import link_page, refusal_kept
from soonish.web.htmx import redirect_to
from soonish.web.limits import subscribe_by_email_limit
from soonish.web.once import once_per_form
from soonish.web.replicas import uses_primary
from soonish.web.security import framable_anywhere
from soonish.web.share import image_url

bp = Blueprint("communities", __name__)


@bp.get("/hosts/<int:host_id>")
def host(host_id):
    """A host's page became their personal community's: old links lead there for good."""
    return redirect(url_for("communities.show", slug=community_service.personal_community_slug(host_id)), 301)


MODE_CHOICES = [(mode.value, label) for mode, label in MODE_LABELS.items()]


class FollowForm(FlaskForm):
    """Follow a community: what to get, and for a visitor without an account, where."""

    mode = RadioField(_l("What would you like?"), choices=MODE_CHOICES, default=MODE_CHOICES[0][0],
                      validators=[DataRequired(_l("Choose what you'd like to get."))])


class EmailFollowForm(FollowForm):
    email = EmailField(_l("Your email"), validators=[
        DataRequired(_l("Enter your email address.")),
        Length(max=254, message=_l("That address is too long to be an email address.")),
        Email(_l("That doesn't look like an email address.")),
    ])


def _page_url(endpoint: str, **values) -> str:
    return public_url(current_app.config["PUBLIC_URL"], url_for(endpoint, **values))


def _show(slug: str, form: FollowForm | None = None, status: int = 200):
    page = community_service.community_page(slug)
    page_url = _page_url("communities.show", slug=slug)
    tags = share.host_card_tags(page.community.name, page_url, page.upcoming,
                                image_url(page.upcoming[0]) if page.upcoming else None)
    user = current_user_or_none()
    following = follow_service.find_following(user, page.community)
    form = form or (FollowForm(mode=following.mode.value) if following else FollowForm()) if user else form or EmailFollowForm()
    return render_template(
        "communities/show.html", community=page.community, name=page.community.name, events=page.upcoming,
        past=page.past, card=tags, canonical=page_url, follow_form=form, following=following,
        followers=follow_service.follower_count(page.community),
        sees_followers=user is not None and may(user, Action.SEE_FOLLOWERS, page.community),
        runs_it=user is not None and may(user, Action.SEE_DELIVERIES, page.community),
        embed_url=_page_url("communities.embed", slug=slug),
        oembed_url=_page_url("communities.oembed", url=page_url, format="json"),
        ics_url=_page_url("communities.calendar", slug=slug), atom_url=_page_url("communities.atom", slug=slug),
    ), status


@bp.get("/c/<slug>")
def show(slug):
    """A community's upcoming and past public events, its follow box, feeds and embed code, with
    a card for link previews like an event's."""
    return _show(slug)


@bp.post("/c/<slug>/follow")
@subscribe_by_email_limit()
@once_per_form
def follow(slug):
    """Signed in: follow in one click. A visitor: an address and a confirm mail (double opt-in)."""
    community = follow_service.followable(slug)
    user = current_user_or_none()
    form = FollowForm() if user else EmailFollowForm()
    if form.validate_on_submit():
        with refusal_kept(form):
            if user:
                follow_service.follow(user, community, form.mode.data)
                flash(_("You follow %(community)s: “%(choice)s”.", community=community.name,
                        choice=MODE_LABELS[follow_service.mode_of(form.mode.data)]), "success")
            else:
                follow_service.follow_by_email(community, form.email.data, form.mode.data)
                flash(_("Almost there: open the link we just sent to %(email)s to start following %(community)s. "
                        "(Not there? Check your spam folder.)", email=form.email.data.strip(), community=community.name),
                      "success")
            return redirect_to(url_for("communities.show", slug=slug))
    return _show(slug, form, 422)


class NewCommunityForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give it a name.")), Length(max=COMMUNITY_NAME_MAX)])
    slug = StringField(_l("Address"), validators=[DataRequired(_l("Choose its address.")), Length(max=COMMUNITY_SLUG_MAX)],
                       description=_l("Its page is /c/ and this: lowercase letters, digits and dashes."))
    description = TextAreaField(_l("About it"), validators=[Length(max=COMMUNITY_DESCRIPTION_MAX)])


ROLE_LABELS = {Role.OWNER: _l("Owner"), Role.ADMIN: _l("Admin: manages members and settings"),
               Role.HOST: _l("Host: creates and edits its events, announces"), Role.ANNOUNCER: _l("Announcer: announces only")}


class InviteForm(FlaskForm):
    email = EmailField(_l("Their email"), validators=[
        DataRequired(_l("Enter their email address.")),
        Length(max=254, message=_l("That address is too long to be an email address.")),
        Email(_l("That doesn't look like an email address.")),
    ])
    role = SelectField(_l("Role"), choices=[], default=Role.HOST.value)


@bp.route("/c/new", methods=["GET", "POST"])
@login_required
@once_per_form
def create():
    """A new community, run by whoever makes it (its owner); then its members page, to invite."""
    form = NewCommunityForm()
    if form.validate_on_submit():
        with refusal_kept(form):
            community = community_service.create_community(current_user, form.name.data, form.slug.data,
                                                           form.description.data)
            flash(_("%(community)s is ready. Invite who helps you run it.", community=community.name), "success")
            return redirect_to(url_for("communities.members", slug=community.slug))
    return render_template("communities/new.html", form=form), 422 if form.errors else 200


@bp.route("/c/<slug>/members", methods=["GET", "POST"])
@login_required
@once_per_form
def members(slug):
    """Who runs the community; its owners and admins invite more here (a mail with a link)."""
    community = community_service.community_at(current_user, slug, Action.SEE_DELIVERIES)
    manages = may(current_user, Action.MANAGE_MEMBERS, community)
    form = None
    if manages:
        role = community_service.role_of(current_user, community)
        form = InviteForm()
        form.role.choices = [(r.value, label) for r, label in ROLE_LABELS.items() if may_grant(role, r)]
        if form.validate_on_submit():
            with refusal_kept(form):
                community_service.invite(current_user, community.id, form.email.data, form.role.data)
                flash(_("Invitation sent to %(email)s.", email=form.email.data.strip()), "success")
                return redirect_to(url_for("communities.members", slug=slug))
    return render_template(
        "communities/members.html", community=community, form=form, role_labels=ROLE_LABELS,
        members=community_service.members(current_user, community.id), member_name=community_service.member_name,
        sees_followers=may(current_user, Action.SEE_FOLLOWERS, community),
    ), 422 if form is not None and form.errors else 200


FOLLOWERS_PER_PAGE = 50


@bp.get("/c/<slug>/followers")
@login_required
def followers(slug):
    """Its owners' and admins' list of who follows the community and how, addresses masked, a
    page at a time (the same cursor as the API's)."""
    community = community_service.community_at(current_user, slug, Action.SEE_FOLLOWERS)
    _community, page = follow_service.followers_page(current_user, community.id, FOLLOWERS_PER_PAGE,
                                                     request.args.get("cursor") or None)
    return render_template("communities/followers.html", community=community, page=page,
                           total=follow_service.follower_count(community), name=follow_service.follower_name,
                           address=follow_service.follower_address, mode_label=follow_service.mode_label)


@bp.post("/c/<slug>/unfollow")
@login_required
def unfollow(slug):
    community = follow_service.followable(slug)
    follow_service.unfollow(follow_service.own_follow(current_user, community.id))
    flash(_("You no longer follow %(community)s.", community=community.name), "info")
    return redirect_to(url_for("communities.show", slug=slug))


@bp.get("/c/follows/confirm/<token>")
@uses_primary  # opening the link confirms
@link_page
def confirm_follow(token):
    follow = follow_service.confirm(token)
    return render_template("communities/follow_manage.html", follow=follow, token=follow_service.manage_token(follow),
                           form=FollowForm(mode=follow.mode.value), confirmed=True)


@bp.route("/c/follows/<token>", methods=["GET", "POST"])
@link_page
def manage_follow(token):
    """From any of the community's mails: change what you get, or unfollow."""
    follow = follow_service.from_manage_token(token)
    form = FollowForm(mode=follow.mode.value)
    if form.validate_on_submit():
        with refusal_kept(form):
            follow_service.change_mode(follow, form.mode.data)
            flash(_("Saved: “%(choice)s”.", choice=MODE_LABELS[follow.mode]), "success")
            return redirect_to(url_for("communities.manage_follow", token=token))
    return render_template("communities/follow_manage.html", follow=follow, token=token, form=form,
                           confirmed=False), 422 if form.errors else 200


def unfollow_page(token):
    return render_template("communities/unfollow.html", follow=follow_service.from_manage_token(token), token=token,
                           done=False)


def unfollow_by_link(token):
    follow = follow_service.unfollow(follow_service.from_manage_token(token))
    return render_template("communities/unfollow.html", follow=follow, token=token, done=True)


one_click_link(bp, "/c/follows/<token>/unsubscribe", unfollow_page, unfollow_by_link)


@bp.route("/s/follow/<token>", methods=["GET", "POST"])
@uses_primary
@link_page
def follow_suggested(token):
    """The "follow this event" of a community's new-event message: opening the link only asks
    (mail scanners open links, and must not follow anyone); the page's one button follows."""
    form = FlaskForm()
    if form.validate_on_submit():
        subscription = follow_service.follow_suggested(token)
        flash(_("You're following %(title)s.", title=subscription.event.title), "success")
        return redirect(url_for("events.show", slug=subscription.event.slug))
    subscription = follow_service.suggested(token)
    return render_template("communities/follow_suggested.html", form=form, subscription=subscription,
                           event=subscription.event, when=when_text(subscription.event))


@bp.route("/c/invites/<token>", methods=["GET", "POST"])
@uses_primary  # opened soon after someone else made the invitation: a replica may not have it yet
@login_required
def accept_invite(token):
    """The invitation link: a page saying which community and role, and a button to accept."""
    invitation = community_service.invite_from_token(token)
    form = FlaskForm()
    if form.validate_on_submit():
        community = community_service.accept_invite(current_user, token)
        flash(_("You help run %(community)s now.", community=community.name), "success")
        return redirect(url_for("events.dashboard"))
    return render_template("communities/accept_invite.html", form=form, invitation=invitation)


@bp.app_context_processor
def community_rights() -> dict:
    """For templates: whether the signed-in person may change or cancel an event, by the one
    rule (their role in its community), so a page offers what the server would allow."""
    return {
        "may_edit": lambda event: may(current_user, Action.EDIT_EVENT, event),
        "may_cancel": lambda event: may(current_user, Action.CANCEL_EVENT, event),
    }


# Feeds and embeds ---------------------------------------------------------------------------------


def _event_url(event) -> str:
    return _page_url("events.show", slug=event.slug)


@bp.get("/c/<slug>.ics")
def calendar(slug):
    """Every upcoming public event of the community, for calendar apps to subscribe to."""
    page = community_service.community_page(slug)
    return Response(calendar_service.community_calendar(page.community, page.upcoming, _event_url),
                    mimetype="text/calendar", headers={"Content-Disposition": f'inline; filename="{slug}.ics"'})


@bp.get("/c/<slug>/feed.atom")
def atom(slug):
    page = community_service.community_page(slug)
    body = community_feeds.atom_feed(page, _page_url("communities.show", slug=slug),
                                     _page_url("communities.atom", slug=slug), _event_url)
    return Response(body, mimetype="application/atom+xml")


@bp.get("/c/<slug>/embed")
def embed(slug):
    """The follow button and next events, to be framed by the community's own site (any origin):
    no cookie read or set; following opens Soonish in a new tab."""
    page = community_service.community_page(slug)
    response = current_app.make_response(render_template(
        "communities/embed.html", community=page.community, events=page.upcoming[:community_feeds.EMBED_EVENTS],
        page_url=_page_url("communities.show", slug=slug)))
    return framable_anywhere(response)


@bp.get("/oembed")
def oembed():
    """oEmbed 1.0 (oembed.com) for a community page's link: a "rich" iframe of its embed."""
    if request.args.get("format", "json") != "json":
        return Response("Only format=json is offered.", status=501, mimetype="text/plain")
    max_width, max_height = _dimension("maxwidth"), _dimension("maxheight")
    community = community_feeds.community_of_page_url(request.args.get("url", ""))
    embed_url = _page_url("communities.embed", slug=community.slug)
    return jsonify(community_feeds.oembed(community, embed_url, max_width, max_height))


def _dimension(name: str) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not value.isdigit() or not 0 < int(value) <= 10_000:
        raise ValidationFailed.field(name, _("A width or height in pixels, from 1 to 10000."))
    return int(value)
