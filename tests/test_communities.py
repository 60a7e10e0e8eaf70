"""Communities (issue 25): who may do what to a community's events is their role in it, one
rule for every check (soonish/domain/communities.py); the team changes by invitation link
(signed, one use, 7 days), role change, removal, leaving and handing on; the last owner stays;
every change is on the audit list."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from soonish.links import LinkPurpose, sign
from soonish.models import (
    Community, CommunityAudit, CommunityInvite, CommunityMember, CommunityRole, Event, EventStatus, db, utcnow,
)

from .api_helpers import create_event, future_iso, subscribe
from .conftest import PASSWORD, csrf_token, stored
from loopback.sinks import wait_until
from .test_concurrent_changes import at_once

ROLES = ["owner", "admin", "host", "announcer"]
WHO = ROLES + ["follower", "stranger"]
OK, NO, MISSING = "ok", "refused", "missing"

# The table the issue asks for: 4 roles + a follower + a stranger x each action.
EXPECTED = {
    "create":         {"owner": OK, "admin": OK, "host": OK, "announcer": NO, "follower": MISSING, "stranger": MISSING},
    "edit":           {"owner": OK, "admin": OK, "host": OK, "announcer": NO, "follower": NO, "stranger": NO},
    "announce":       {"owner": OK, "admin": OK, "host": OK, "announcer": OK, "follower": NO, "stranger": NO},
    "cancel":         {"owner": OK, "admin": OK, "host": OK, "announcer": NO, "follower": NO, "stranger": NO},
    "manage members": {"owner": OK, "admin": OK, "host": NO, "announcer": NO, "follower": MISSING, "stranger": MISSING},
    "delete":         {"owner": OK, "admin": NO, "host": NO, "announcer": NO, "follower": MISSING, "stranger": MISSING},
}
OUTCOME = {200: OK, 201: OK, 204: OK, 403: NO, 404: MISSING}


def make_community(client, headers, slug="book-club", name="Book Club") -> dict:
    response = client.post("/api/v1/communities", json={"name": name, "slug": slug}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def add_member(app, community_id: int, user_id: int, role: str) -> None:
    stored(app, CommunityMember(community_id=community_id, user_id=user_id, role=CommunityRole(role)))


@pytest.fixture
def team(app, client, make_user, bearer):
    """A community with one person in each role, a follower of its event and a stranger."""
    people = {who: make_user(f"{who}@example.com") for who in WHO}
    headers = {who: bearer(user) for who, user in people.items()}
    community = make_community(client, headers["owner"])
    for role in ROLES[1:]:
        add_member(app, community["id"], people[role].id, role)
    return people, headers, community


def _event(client, headers, community) -> dict:
    return create_event(client, headers["owner"], community_id=community["id"])


def test_every_role_and_action(app, client, team):
    people, headers, community = team
    target = people["announcer"]  # whom "manage members" acts on: set to the role they have
    got = {action: {} for action in EXPECTED}
    for who in WHO:
        event = _event(client, headers, community)
        subscribe(client, headers["follower"], event["id"])
        h = headers[who]
        calls = {
            "create": lambda: client.post("/api/v1/events", json={"title": "Mine", "starts_at": future_iso(3),
                                                                  "community_id": community["id"]}, headers=h),
            "edit": lambda: client.patch(f"/api/v1/events/{event['id']}", json={"title": "Renamed"}, headers=h),
            "announce": lambda: client.post(f"/api/v1/events/{event['id']}/announcements", json={"title": "Hi"}, headers=h),
            "cancel": lambda: client.post(f"/api/v1/events/{event['id']}/cancel", json={}, headers=h),
            "manage members": lambda: client.patch(f"/api/v1/communities/{community['id']}/members/{target.id}",
                                                   json={"role": "announcer"}, headers=h),
        }
        for action, call in calls.items():
            response = call()
            assert response.status_code in OUTCOME, (who, action, response.get_json())
            got[action][who] = OUTCOME[response.status_code]
    # Delete last (and per person a community of its own, run by the same team).
    for who in WHO:
        other = make_community(client, headers["owner"], slug=f"club-for-{who}", name=f"Club for {who}")
        for role in ROLES[1:]:
            add_member(app, other["id"], people[role].id, role)
        response = client.delete(f"/api/v1/communities/{other['id']}", headers=headers[who])
        got["delete"][who] = OUTCOME[response.status_code]
    assert got == EXPECTED


def test_members_see_private_events_and_lose_rights_at_their_next_request(app, client, team):
    people, headers, community = team
    private = create_event(client, headers["owner"], community_id=community["id"], visibility="private")
    for who in ROLES:
        assert client.get(f"/api/v1/events/{private['id']}", headers=headers[who]).status_code == 200, who
    for who in ("follower", "stranger"):
        assert client.get(f"/api/v1/events/{private['id']}", headers=headers[who]).status_code == 404, who

    host_headers = headers["host"]
    assert client.patch(f"/api/v1/events/{private['id']}", json={"title": "A"}, headers=host_headers).status_code == 200
    removed = client.delete(f"/api/v1/communities/{community['id']}/members/{people['host'].id}", headers=headers["admin"])
    assert removed.status_code == 204
    # Same token, next request: the role is read afresh.
    assert client.patch(f"/api/v1/events/{private['id']}", json={"title": "B"}, headers=host_headers).status_code == 404


def test_the_event_page_offers_edit_and_cancel_to_whoever_may(app, team):
    """The page's buttons follow the same rule as the server: a host sees them, an announcer not."""
    people, headers, community = team
    event = create_event(app.test_client(), headers["owner"], community_id=community["id"])
    for who, offered in (("owner", True), ("host", True), ("announcer", False), ("stranger", False)):
        browser = app.test_client()
        response = browser.post("/login", data={"email": people[who].email, "password": PASSWORD,
                                                "csrf_token": csrf_token(browser, "/login")})
        assert response.status_code == 302, who
        html = browser.get(f"/e/{event['slug']}").get_data(as_text=True)
        assert (f'/events/{event["id"]}/edit"' in html) == offered, who
        assert (f'/events/{event["id"]}/cancel' in html) == offered, who


def test_nobody_raises_their_own_role_or_outranks_who_let_them_in(client, team):
    people, headers, community = team
    members = f"/api/v1/communities/{community['id']}/members"
    mine = client.patch(f"{members}/{people['admin'].id}", json={"role": "owner"}, headers=headers["admin"])
    assert mine.status_code == 403 and "own role" in mine.get_json()["error"]["message"]
    upward = client.patch(f"{members}/{people['host'].id}", json={"role": "owner"}, headers=headers["admin"])
    assert upward.status_code == 403 and upward.get_json()["error"]["fields"] == {"role": ["owner"]}
    peer = client.post(f"/api/v1/communities/{community['id']}/invites", json={"email": "x@example.com", "role": "admin"},
                       headers=headers["admin"])
    assert peer.status_code == 403
    bad = client.patch(f"{members}/{people['host'].id}", json={"role": "king"}, headers=headers["owner"])
    assert bad.status_code == 422 and "role" in bad.get_json()["error"]["fields"]


def test_the_last_owner_cant_leave_until_they_hand_it_on(app, client, team):
    people, headers, community = team
    members = f"/api/v1/communities/{community['id']}/members"
    owner = people["owner"]
    refused = client.delete(f"{members}/{owner.id}", headers=headers["owner"])
    assert refused.status_code == 409 and "last owner" in refused.get_json()["error"]["message"]
    handed = client.post(f"/api/v1/communities/{community['id']}/transfer", json={"user_id": people["admin"].id},
                         headers=headers["owner"])
    assert handed.status_code == 200 and handed.get_json()["role"] == "owner"
    roles = {m["user_id"]: m["role"] for m in client.get(members, headers=headers["admin"]).get_json()}
    assert roles[owner.id] == "admin" and roles[people["admin"].id] == "owner"
    assert client.delete(f"{members}/{owner.id}", headers=headers["owner"]).status_code == 204

    audit = client.get(f"/api/v1/communities/{community['id']}/audit", headers=headers["admin"]).get_json()
    assert [entry["action"] for entry in audit] == ["left", "transferred", "created"]
    assert all(entry["at"] for entry in audit)


def test_slugs_are_checked_and_limits_named(app, client, make_user, bearer):
    headers = bearer(make_user("ada@example.com"))
    for slug in ("new", "api", "ab", "Has Space", "-dash", "ada-12"):
        response = client.post("/api/v1/communities", json={"name": "X", "slug": slug}, headers=headers)
        assert response.status_code == 422 and "slug" in response.get_json()["error"]["fields"], slug
    make_community(client, headers, slug="chess")
    taken = client.post("/api/v1/communities", json={"name": "X", "slug": "chess"}, headers=headers)
    assert taken.status_code == 409 and taken.get_json()["error"]["fields"] == {"slug": ["That address is taken; pick another."]}
    app.config["COMMUNITIES_OWNED_MAX"] = 1
    over = client.post("/api/v1/communities", json={"name": "X", "slug": "go-club"}, headers=headers)
    assert over.status_code == 409 and "communities" in over.get_json()["error"]["fields"]


def _invite(app, community_id: int, email: str, role: str, expires_in=timedelta(days=7)) -> str:
    """An invitation as the invite endpoint stores it, and the token its mail carries."""
    invitation = stored(app, CommunityInvite(community_id=community_id, email=email, role=CommunityRole(role),
                                             expires_at=utcnow() + expires_in))
    with app.app_context():
        return sign(app.config["SECRET_KEY"], LinkPurpose.COMMUNITY_INVITE, invitation.id)


def test_an_invitation_works_once_even_when_accepted_twice_at_the_same_moment(app, client, make_user, bearer, team):
    people, headers, community = team
    guests = [bearer(make_user(f"guest{i}@example.com")) for i in range(2)]
    for _ in range(5):
        token = _invite(app, community["id"], "guest@example.com", "host")
        answers = at_once(app, *[
            (lambda c, h=h: c.post("/api/v1/communities/invites/accept", json={"token": token}, headers=h))
            for h in guests
        ])
        assert sorted(a.status_code for a in answers) == [200, 410], [a.get_json() for a in answers]
        with app.app_context():
            db.session.execute(CommunityMember.__table__.delete().where(
                CommunityMember.community_id == community["id"],
                CommunityMember.user_id.notin_([p.id for p in people.values()])))
            db.session.commit()

    expired = _invite(app, community["id"], "late@example.com", "host", expires_in=timedelta(seconds=-1))
    late = client.post("/api/v1/communities/invites/accept", json={"token": expired}, headers=guests[0])
    assert late.status_code == 410
    forged = client.post("/api/v1/communities/invites/accept", json={"token": "not-ours"}, headers=guests[0])
    assert forged.status_code == 410 and "not valid" in forged.get_json()["error"]["message"]


def test_a_co_host_invited_by_mail_creates_an_event_in_the_community(app, client, make_user, bearer, login, worker,
                                                                     smtp_sink, team):
    people, headers, community = team
    cohost = make_user("cohost@example.com")
    sent = client.post(f"/api/v1/communities/{community['id']}/invites",
                       json={"email": "cohost@example.com", "role": "host"}, headers=headers["owner"])
    assert sent.status_code == 201, sent.get_json()
    wait_until(lambda: any(m["To"] == "cohost@example.com" for m in smtp_sink.messages), message="the invitation mail")
    mail = next(m for m in smtp_sink.messages if m["To"] == "cohost@example.com")
    assert mail["Subject"] == "Help run Book Club on Soonish"
    text = mail.get_body(("plain",)).get_content()
    link = re.search(r"http://soonish\.test(/c/invites/\S+)", text).group(1)

    login(cohost)
    page = client.get(link)
    assert page.status_code == 200 and "Help run Book Club?" in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    accepted = client.post(link, data={"csrf_token": token})
    assert accepted.status_code == 302
    again = client.post(link, data={"csrf_token": token})
    assert again.status_code == 410

    made = create_event(client, bearer(cohost), title="Co-hosted night", community_id=community["id"])
    assert made["community_id"] == community["id"] and made["organizer_id"] == cohost.id
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CommunityAudit).where(
            CommunityAudit.community_id == community["id"], CommunityAudit.action == "joined")) == 1
    html = client.get("/c/book-club").get_data(as_text=True)
    assert "Co-hosted night" in html


def test_deleting_a_community_cancels_its_events_and_personal_ones_stay(app, client, team):
    people, headers, community = team
    event = _event(client, headers, community)
    assert client.delete(f"/api/v1/communities/{community['id']}", headers=headers["owner"]).status_code == 204
    with app.app_context():
        assert db.session.get(Event, event["id"]).status == EventStatus.CANCELLED
        assert db.session.get(Community, community["id"]).archived_at is not None
    assert client.get("/c/book-club").status_code == 404
    personal = create_event(client, headers["owner"])["community_id"]
    kept = client.delete(f"/api/v1/communities/{personal}", headers=headers["owner"])
    assert kept.status_code == 409 and kept.get_json()["error"]["fields"] == {"community": ["personal"]}


def test_a_hosts_series_and_its_occurrences_belong_to_the_community(app, client, team):
    from .test_series import create_series
    people, headers, community = team
    series = create_series(client, headers["host"], community_id=community["id"])
    assert series["community_id"] == community["id"] and series["upcoming"]
    with app.app_context():
        owners = set(db.session.scalars(select(Event.community_id).where(Event.series_id == series["id"])))
    assert owners == {community["id"]}
    # The admin (not the host who made it) may change it; the announcer may not.
    assert client.patch(f"/api/v1/series/{series['id']}", json={"title": "Readers"}, headers=headers["admin"]).status_code == 200
    assert client.patch(f"/api/v1/series/{series['id']}", json={"title": "Mine"}, headers=headers["announcer"]).status_code == 403
    refused = create_series(client, headers["announcer"], expect=403, community_id=community["id"])
    assert "announcer" in refused["error"]["message"]


def signed_in(app, user):
    browser = app.test_client()
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD,
                                            "csrf_token": csrf_token(browser, "/login")})
    assert response.status_code == 302
    return browser


def test_the_pages_make_a_community_invite_to_it_and_put_a_new_event_in_it(app, team, make_user, smtp_sink):
    people, headers, community = team
    founder = signed_in(app, make_user("founder@example.com"))
    form = {"name": "Night Owls", "slug": "book-club", "csrf_token": csrf_token(founder, "/c/new")}
    taken = founder.post("/c/new", data=form)
    assert taken.status_code == 422 and "That address is taken" in taken.get_data(as_text=True)
    made = founder.post("/c/new", data={**form, "slug": "night-owls"})
    assert made.status_code == 302 and made.headers["Location"].endswith("/c/night-owls/members")

    members_page = founder.get("/c/night-owls/members").get_data(as_text=True)
    assert "Invite someone" in members_page
    invite = {"email": "nope", "role": "host", "csrf_token": csrf_token(founder, "/c/night-owls/members")}
    assert founder.post("/c/night-owls/members", data=invite).status_code == 422
    assert founder.post("/c/night-owls/members", data={**invite, "role": "overlord"}).status_code == 422
    sent = founder.post("/c/night-owls/members", data={**invite, "email": "host@example.com"})
    assert sent.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(CommunityInvite.role).where(CommunityInvite.email == "host@example.com")) == CommunityRole.HOST

    # The book club's host offers it on the new-event form; the event is made in it.
    host = signed_in(app, people["host"])
    page = host.get("/events/new").get_data(as_text=True)
    assert "Hosted by" in page and f'<option value="{community["id"]}">Book Club</option>' in page
    event_form = {"title": "Chapter 6", "starts_at": future_iso(3)[:16], "timezone": "UTC", "visibility": "public",
                  "repeats": "none", "csrf_token": csrf_token(host, "/events/new")}
    refused = host.post("/events/new", data={**event_form, "community": "nope"})  # not a choice offered
    assert refused.status_code == 200 and 'id="community-error"' in refused.get_data(as_text=True)
    assert host.post("/events/new", data={**event_form, "community": str(community["id"])}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Event.community_id).where(Event.title == "Chapter 6")) == community["id"]
    # An announcer may not create events: no choice offered; someone in no community sees no field.
    for who in ("announcer", "stranger"):
        assert "Hosted by" not in signed_in(app, people[who]).get("/events/new").get_data(as_text=True), who
    assert "Invite someone" not in host.get("/c/book-club/members").get_data(as_text=True)
    assert signed_in(app, people["stranger"]).get("/c/book-club/members").status_code == 404
