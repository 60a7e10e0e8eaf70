"""A community's public page (/c/<slug>), where a host's old page leads, and accepting an
invitation to help run one."""
from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from soonish.domain import share
from soonish.domain.communities import Action, may
from soonish.links import public_url
from soonish.services import communities as community_service
from soonish.web.replicas import uses_primary
from soonish.web.share import image_url

bp = Blueprint("communities", __name__)


@bp.get("/hosts/<int:host_id>")
def host(host_id):
    """A host's page became their personal community's: old links lead there for good."""
    return redirect(url_for("communities.show", slug=community_service.personal_community_slug(host_id)), 301)


@bp.get("/c/<slug>")
def show(slug):
    """A community's upcoming and past public events, with a card for link previews like an event's."""
    page = community_service.community_page(slug)
    page_url = public_url(current_app.config["PUBLIC_URL"], url_for("communities.show", slug=slug))
    tags = share.host_card_tags(page.community.name, page_url, page.upcoming,
                                image_url(page.upcoming[0]) if page.upcoming else None)
    return render_template("communities/show.html", community=page.community, name=page.community.name,
                           events=page.upcoming, past=page.past, card=tags, canonical=page_url)


@bp.route("/c/invites/<token>", methods=["GET", "POST"])
@uses_primary  # opened soon after someone else made the invitation: a replica may not have it yet
@login_required
def accept_invite(token):
    """The invitation link: a page saying which community and role, and a button to accept."""
    invitation = community_service.invite_from_token(token)
    form = FlaskForm()
    if form.validate_on_submit():
        community = community_service.accept_invite(current_user, token)
        flash(f"You help run {community.name} now.", "success")
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
