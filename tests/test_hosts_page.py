"""A community's page, /c/<slug>: its upcoming public events (never unlisted, private or
cancelled ones) and its past ones, linked from its public event pages, with link-preview card
tags. A host's old page, /hosts/<id>, leads to their personal community's for good."""
import re

from soonish.models import Community, User, db

from .api_helpers import create_event, future_iso


def _personal_slug(app, user_id: int) -> str:
    with app.app_context():
        return db.session.query(Community.slug).filter_by(personal_of_id=user_id).scalar()


def test_the_community_page_lists_only_upcoming_public_events_with_card_tags(app, client, make_user, bearer):
    host = make_user("ada@example.com")
    with app.app_context():
        db.session.get(User, host.id).display_name = "Ada's Book Club"
        db.session.commit()
    headers = bearer(host)
    later = create_event(client, headers, title="Second meeting", starts_at=future_iso(14))
    sooner = create_event(client, headers, title="First meeting", starts_at=future_iso(3))
    create_event(client, headers, title="Unlisted chat", visibility="unlisted")
    create_event(client, headers, title="Private dinner", visibility="private")
    called_off = create_event(client, headers, title="Called off")
    assert client.post(f"/api/v1/events/{called_off['id']}/cancel", json={}, headers=headers).status_code == 200
    slug = _personal_slug(app, host.id)
    assert slug == f"ada-s-book-club-{host.id}"
    assert later["community_id"] == sooner["community_id"] is not None

    response = client.get(f"/c/{slug}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Hosted by Ada&#39;s Book Club" in html
    assert html.index("First meeting") < html.index("Second meeting")  # soonest first
    for hidden in ("Unlisted chat", "Private dinner", "Called off", "Past events"):
        assert hidden not in html
    assert '<meta property="og:title" content="Events hosted by Ada&#39;s Book Club">' in html
    assert '<meta property="og:description" content="2 upcoming events: First meeting, Second meeting.">' in html
    assert re.search(rf'<meta property="og:image" content="http://soonish.test/e/{sooner["slug"]}/share.png\?v=[0-9a-f]{{32}}&amp;lang=en">', html)
    assert f'<link rel="canonical" href="http://soonish.test/c/{slug}">' in html

    event_page = client.get(f"/e/{later['slug']}").get_data(as_text=True)
    assert f'href="/c/{slug}"' in event_page

    moved = client.get(f"/hosts/{host.id}")
    assert moved.status_code == 301 and moved.headers["Location"].endswith(f"/c/{slug}")


def test_past_public_events_are_listed_latest_first(app, client, make_user, bearer):
    from datetime import timedelta

    from soonish.models import Event, utcnow
    host = make_user("ed@example.com")
    coming = create_event(client, bearer(host), title="Coming up")
    with app.app_context():
        # Events become past by time passing; moving their start back stands for that.
        for title, days in (("Long ago", 30), ("Last week", 7)):
            past = create_event(client, bearer(host), title=title)
            db.session.get(Event, past["id"]).starts_at = utcnow() - timedelta(days=days)
        db.session.commit()
    html = client.get(f"/c/{_personal_slug(app, host.id)}").get_data(as_text=True)
    upcoming, _, past = html.partition("Past events")
    assert "Coming up" in upcoming and "Last week" not in upcoming
    assert past.index("Last week") < past.index("Long ago")
    assert coming["title"] not in past


def test_only_someone_who_published_a_public_event_has_a_page(app, client, make_user, bearer):
    follower = make_user("bea@example.com")
    private_host = make_user("cy@example.com")
    unlisted = create_event(client, bearer(private_host), title="Just friends", visibility="unlisted")
    for path in (f"/hosts/{follower.id}", f"/hosts/{private_host.id}", "/hosts/999999", "/hosts/abc", "/hosts/-1",
                 f"/c/{_personal_slug(app, private_host.id)}", "/c/nobody-here"):
        assert client.get(path).status_code == 404, path
    page = client.get(f"/e/{unlisted['slug']}").get_data(as_text=True)
    assert "/hosts/" not in page and "/c/" not in page
