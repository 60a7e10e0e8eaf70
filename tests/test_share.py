"""Sharing: card tags on public/unlisted event pages (none on private ones), the generated
share image with cache headers, and Google / Outlook calendar links in UTC."""
import io
import re
from datetime import datetime, timedelta, timezone
from html import unescape
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw

from .api_helpers import create_event

META = re.compile(r'<meta (property|name)="([^"]+)" content="([^"]*)">')


def tags(html: str) -> dict[str, str]:
    return {name: unescape(content) for _kind, name, content in META.findall(html)}


def test_public_and_unlisted_pages_carry_cards_and_private_ones_nothing(client, organizer, host, login):
    public = create_event(client, organizer, title="Rooftop jazz", starts_at="2031-06-20T20:00:00+02:00",
                          timezone="Europe/Paris", description="Bring a friend. " * 40)
    found = tags(client.get(f"/e/{public['slug']}").get_data(as_text=True))
    assert found["og:title"] == found["twitter:title"] == "Rooftop jazz"
    assert found["og:url"] == f"http://soonish.test/e/{public['slug']}"
    assert found["og:description"].startswith("Fri, Jun 20, 2031, 8:00 PM CEST (Europe/Paris). Atelier. Bring a friend.")
    assert len(found["og:description"]) <= 200
    assert found["twitter:card"] == "summary_large_image"
    assert found["og:image"] == found["twitter:image"]
    assert found["og:image"].startswith(f"http://soonish.test/e/{public['slug']}/share.png?v=")

    unlisted = create_event(client, organizer, title="Secret supper", visibility="unlisted")
    assert tags(client.get(f"/e/{unlisted['slug']}").get_data(as_text=True))["og:title"] == "Secret supper"

    private = create_event(client, organizer, title="Board meeting", visibility="private")
    login(host)  # the organizer sees their private event's page; a card would expose it
    page = client.get(f"/e/{private['slug']}")
    assert page.status_code == 200 and "Board meeting" in page.get_data(as_text=True)
    assert not [name for name in tags(page.get_data(as_text=True)) if name.startswith(("og:", "twitter:"))]
    assert client.get(f"/e/{private['slug']}/share.png").status_code == 404


def test_share_image_is_a_1200x630_png_with_cache_headers(client, organizer):
    event = create_event(client, organizer, title="A very long title for a party " * 3)
    response = client.get(f"/e/{event['slug']}/share.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert Image.open(io.BytesIO(response.data)).size == (1200, 630)
    assert "public" in response.headers["Cache-Control"] and "max-age=600" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    again = client.get(f"/e/{event['slug']}/share.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    # An edit changes the picture, so the tag.
    client.patch(f"/api/v1/events/{event['id']}", json={"title": "Renamed"}, headers=organizer)
    assert client.get(f"/e/{event['slug']}/share.png").headers["ETag"] != etag


def test_the_share_card_is_written_in_the_language_of_the_page_that_links_it(client, organizer, make_user, monkeypatch):
    event = create_event(client, organizer, title="Lesekreis", starts_at="2031-06-20T20:00:00+02:00",
                         timezone="Europe/Paris")
    drawn = []  # (x, text, anchor) of each line Pillow writes on the card
    write = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, text, *args, **kwargs: drawn.append(
        (xy[0], text, kwargs.get("anchor"))) or write(self, xy, text, *args, **kwargs))

    def card(language: str) -> tuple[str, list]:
        page = client.get(f"/e/{event['slug']}", headers={"Accept-Language": language}).get_data(as_text=True)
        parts = urlsplit(tags(page)["og:image"])
        assert parse_qs(parts.query)["lang"] == [language]
        drawn.clear()
        # A crawler fetches the image with no language of its own: the URL's decides.
        response = client.get(f"{parts.path}?{parts.query}")
        assert response.status_code == 200 and "immutable" in response.headers["Cache-Control"]
        return response.headers["ETag"], list(drawn)

    english_tag, english = card("en")
    german_tag, german = card("de")
    arabic_tag, arabic = card("ar")
    assert len({english_tag, german_tag, arabic_tag}) == 3
    assert (80, "Fri, Jun 20, 2031, 8:00\u202fPM CEST (Europe/Paris)", "la") in english
    assert (80, "Fr., 20. Juni 2031, 20:00 MESZ (Europe/Paris)", "la") in german
    assert (80, "Veranstaltet von Test", "la") in german and (80, "Hosted by Test", "la") in english
    # Right to left: the card mirrored, its lines from the right edge, the brand on the left.
    assert (1120, "Lesekreis", "ra") in arabic and (80, "Soonish", "la") in arabic
    assert any(text.startswith("يستضيفها ") and x == 1120 for x, text, _anchor in arabic)


def test_calendar_links_carry_the_times_in_utc(client, organizer):
    event = create_event(client, organizer, title="Rooftop jazz", starts_at="2031-06-20T20:00:00+02:00",
                         ends_at="2031-06-20T23:30:00+02:00", timezone="Europe/Paris", location="Hall 2")
    html = unescape(client.get(f"/e/{event['slug']}").get_data(as_text=True))
    google = parse_qs(urlsplit(re.search(r'href="(https://calendar\.google\.com/[^"]+)"', html).group(1)).query)
    assert google["dates"] == ["20310620T180000Z/20310620T213000Z"]
    assert google["text"] == ["Rooftop jazz"] and google["location"] == ["Hall 2"] and google["ctz"] == ["Europe/Paris"]
    outlook = parse_qs(urlsplit(re.search(r'href="(https://outlook\.live\.com/[^"]+)"', html).group(1)).query)
    assert outlook["startdt"] == ["2031-06-20T18:00:00Z"] and outlook["enddt"] == ["2031-06-20T21:30:00Z"]
    assert outlook["subject"] == ["Rooftop jazz"]


def test_an_event_without_an_end_goes_in_calendars_for_an_hour(client, organizer):
    event = create_event(client, organizer, starts_at="2031-01-10T09:00:00+00:00", timezone="UTC")
    html = unescape(client.get(f"/e/{event['slug']}").get_data(as_text=True))
    assert "dates=20310110T090000Z/20310110T100000Z" in html.replace("%2F", "/")


def test_the_confirm_mail_offers_calendar_links(client, organizer, smtp_sink, worker):
    event = create_event(client, organizer, title="Book club", starts_at="2031-06-20T20:00:00+02:00")
    client.post(f"/api/v1/events/{event['id']}/subscriptions", json={"email": "reader@example.com"})
    [mail] = smtp_sink.wait_for(1)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "https://calendar.google.com/calendar/render?" in text and "20310620T180000Z" in text
    assert "https://outlook.live.com/calendar/0/action/compose?" in text


def test_online_link_must_be_http_and_the_join_button_waits_for_followers(
        app, client, organizer, make_user, bearer, login, host):
    refused = client.post("/api/v1/events", headers=organizer, json={
        "title": "Stream", "starts_at": "2031-01-10T09:00:00+00:00", "online_url": "javascript:alert(1)"})
    assert refused.status_code == 422 and "online_url" in refused.get_json()["error"]["fields"]

    soon = (datetime.now(timezone.utc) + timedelta(minutes=10)).replace(microsecond=0).isoformat()
    later = (datetime.now(timezone.utc) + timedelta(hours=3)).replace(microsecond=0).isoformat()
    near = create_event(client, organizer, title="Soon stream", starts_at=soon, online_url="https://meet.example.com/soon")
    far = create_event(client, organizer, title="Later stream", starts_at=later, online_url="https://meet.example.com/later")
    assert near["online_url"] == "https://meet.example.com/soon"  # the organizer sees it over the API
    assert client.get(f"/api/v1/events/{near['id']}").get_json()["online_url"] is None  # anyone else doesn't

    def join_shown(event) -> bool:
        return "Join online" in client.get(f"/e/{event['slug']}").get_data(as_text=True)

    assert not join_shown(near)  # a visitor never sees it
    follower = make_user("fan@example.com")
    for event in (near, far):
        client.post(f"/api/v1/events/{event['id']}/subscriptions", headers=bearer(follower), json={})
    login(follower)
    assert join_shown(near) and not join_shown(far)  # 10 minutes to go: open; 3 hours: not yet
    login(host)
    assert join_shown(far)  # the organizer always


def test_reminders_and_updates_carry_the_join_and_map_links(app):
    from soonish.domain.messages import NotificationText
    from soonish.models import Event, Notification, NotificationKind

    event = Event(id=7, title="Stream", location="Hall 2, Lyon", online_url="https://meet.example.com/x",
                  starts_at=datetime(2031, 1, 10, 9, tzinfo=timezone.utc), timezone="UTC")
    notification = Notification(id=3, kind=NotificationKind.REMINDER, title="Reminder: Stream", body="")
    with app.test_request_context():
        text = NotificationText.of(notification, event, "http://soonish.test/e/stream")
        message = text.message("key", None, as_mail=True)
    assert "Join online: https://meet.example.com/x" in message.short
    assert "https://www.openstreetmap.org/search?query=Hall+2%2C+Lyon" in message.text
    assert "Join online: https://meet.example.com/x" in message.text
    assert message.extra["online_url"] == "https://meet.example.com/x" and message.extra["location"] == "Hall 2, Lyon"
    slack = text.short("slack")
    assert "<https://meet.example.com/x|Join online>" in slack and "openstreetmap.org" in slack
