"""A host's page, /hosts/<id>: their upcoming public events (never unlisted, private or
cancelled ones), linked from their public event pages, with link-preview card tags."""
import re

from soonish.models import User, db

from .api_helpers import create_event, future_iso


def test_the_host_page_lists_only_upcoming_public_events_with_card_tags(app, client, make_user, bearer):
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

    response = client.get(f"/hosts/{host.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Hosted by Ada&#39;s Book Club" in html
    assert html.index("First meeting") < html.index("Second meeting")  # soonest first
    for hidden in ("Unlisted chat", "Private dinner", "Called off"):
        assert hidden not in html
    assert '<meta property="og:title" content="Events hosted by Ada&#39;s Book Club">' in html
    assert '<meta property="og:description" content="2 upcoming events: First meeting, Second meeting.">' in html
    assert re.search(rf'<meta property="og:image" content="http://soonish.test/e/{sooner["slug"]}/share.png\?v=\d+">', html)
    assert f'<link rel="canonical" href="http://soonish.test/hosts/{host.id}">' in html

    event_page = client.get(f"/e/{later['slug']}").get_data(as_text=True)
    assert f'href="/hosts/{host.id}"' in event_page


def test_only_someone_who_published_a_public_event_has_a_host_page(app, client, make_user, bearer):
    follower = make_user("bea@example.com")
    private_host = make_user("cy@example.com")
    unlisted = create_event(client, bearer(private_host), title="Just friends", visibility="unlisted")
    for path in (f"/hosts/{follower.id}", f"/hosts/{private_host.id}", "/hosts/999999", "/hosts/abc", "/hosts/-1"):
        assert client.get(path).status_code == 404, path
    assert "/hosts/" not in client.get(f"/e/{unlisted['slug']}").get_data(as_text=True)
