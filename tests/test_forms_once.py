"""The forms that cause sends can't double-submit (issue 17.1): the second submit of the same
form does nothing and shows the first result."""
import re

from soonish.models import Event, Notification, NotificationKind, Subscription, SubscriptionStatus, db

from .api_helpers import create_event
from .conftest import csrf_token


def nonce_in(page: str) -> str:
    return re.search(r'name="form_nonce" value="([^"]+)"', page).group(1)


def test_a_double_submitted_announcement_is_sent_once_and_shows_the_first_result(app, client, make_user, login, bearer, worker):
    user = make_user()
    login(user)
    event = create_event(client, bearer(user))
    page = client.get(f"/e/{event['slug']}").get_data(as_text=True)
    form = {"title": "Doors open at 19:00", "body": "", "form_nonce": nonce_in(page), "csrf_token": csrf_token(client, f"/e/{event['slug']}")}
    first = client.post(f"/events/{event['id']}/announce", data=form)
    again = client.post(f"/events/{event['id']}/announce", data=form)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    shown = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "Sent" in shown or "sent" in shown
    with app.app_context():
        announcements = db.session.query(Notification).filter_by(event_id=event["id"], kind=NotificationKind.ANNOUNCEMENT).all()
        assert [n.title for n in announcements] == ["Doors open at 19:00"]
    # A fresh page is a fresh form: the same words can be sent again on purpose.
    page = client.get(f"/e/{event['slug']}").get_data(as_text=True)
    client.post(f"/events/{event['id']}/announce", data={**form, "form_nonce": nonce_in(page)})
    with app.app_context():
        assert db.session.query(Notification).filter_by(event_id=event["id"], kind=NotificationKind.ANNOUNCEMENT).count() == 2


def test_a_double_submitted_cancel_and_follow_act_once(app, client, make_user, login, bearer, worker):
    organizer, follower = make_user(), make_user()
    event = create_event(client, bearer(organizer))
    login(follower)
    page = client.get(f"/e/{event['slug']}").get_data(as_text=True)
    follow = {"form_nonce": nonce_in(page), "csrf_token": csrf_token(client, f"/e/{event['slug']}"), "reminder_offsets": "1d"}
    first = client.post(f"/e/{event['slug']}/subscribe", data=follow)
    # Meanwhile the follower leaves; the resubmitted old form must not follow again.
    with app.app_context():
        subscription = db.session.query(Subscription).one()
        subscription.status = SubscriptionStatus.UNSUBSCRIBED
        db.session.commit()
    again = client.post(f"/e/{event['slug']}/subscribe", data=follow)
    assert again.status_code == first.status_code
    with app.app_context():
        assert db.session.query(Subscription).one().status == SubscriptionStatus.UNSUBSCRIBED
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(organizer)
    page = client.get(f"/e/{event['slug']}").get_data(as_text=True)
    cancel = {"form_nonce": nonce_in(page), "csrf_token": csrf_token(client, "/dashboard")}
    assert client.post(f"/events/{event['id']}/cancel", data=cancel).status_code == 302
    with app.app_context():
        cancels = db.session.query(Notification).filter_by(event_id=event["id"], kind=NotificationKind.CANCEL).count()
    assert client.post(f"/events/{event['id']}/cancel", data=cancel).status_code == 302
    with app.app_context():
        assert db.session.query(Notification).filter_by(event_id=event["id"], kind=NotificationKind.CANCEL).count() == cancels == 1
        assert db.session.get(Event, event["id"]).status.value == "cancelled"
