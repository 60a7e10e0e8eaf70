"""Mail links name ids, never the address they were mailed to: a link's payload is only signed
(anyone holding the link reads it), and links travel through logs, proxies and referrers. The
RSVP answer links and the email-channel verification links carry a user or channel id and a
keyed tag of the address; links mailed before keep working until they expire."""
import re
import zlib
from urllib.parse import urlsplit

from itsdangerous.encoding import base64_decode

from soonish.links import LinkPurpose, address_tag, sign
from soonish.models import Integration, Rsvp, db

from .api_helpers import create_event
from .conftest import csrf_token
from loopback.sinks import wait_until
from .test_email_channels import add_email_channel, verify_path

ADDRESS = "wanda.wonder@mailbox.example"
ADDRESS_PARTS = ("wanda", "wonder", "mailbox", "example", "@", "%40")
LINK = re.compile(r"http://soonish\.test(/\S+)")


def payload_text(token: str) -> str:
    """What anyone holding the link can read: the token's payload, decoded (and inflated when
    itsdangerous compressed it, which it marks with a leading dot)."""
    compressed = token.startswith(".")
    raw = base64_decode(token.lstrip(".").split(".")[0])
    return (zlib.decompress(raw) if compressed else raw).decode()


def assert_names_no_address(token: str) -> None:
    readable = payload_text(token).lower()
    assert not [part for part in ADDRESS_PARTS if part in readable], readable


def answer_link(smtp_sink) -> str:
    wait_until(lambda: smtp_sink.to(ADDRESS), message="the confirm mail")
    body = smtp_sink.to(ADDRESS)[0].get_body(preferencelist=("plain",)).get_content()
    return next(p for p in LINK.findall(body) if p.startswith("/r/") and p.endswith("answer=going"))


def rsvps(app, event_id: int) -> dict[str, str]:
    with app.app_context():
        return {r.user.email: r.answer.value for r in db.session.query(Rsvp).filter_by(event_id=event_id)}


def test_an_rsvp_link_names_no_address_and_answers_for_its_addressee(app, client, make_user, bearer, worker, smtp_sink):
    event = create_event(client, bearer(make_user("host@example.com")), title="Book club")
    page = f"/e/{event['slug']}"
    client.post(f"{page}/subscribe", data={"email": ADDRESS, "csrf_token": csrf_token(client, page)})
    link = answer_link(smtp_sink)
    token = urlsplit(link).path.removeprefix("/r/")
    assert_names_no_address(token)

    opened = client.get(link)
    assert opened.status_code == 200 and ADDRESS in opened.get_data(as_text=True)  # the page still says whose answer
    answered = client.post(urlsplit(link).path, data={"answer": "going", "csrf_token": csrf_token(client, link)})
    assert answered.status_code == 200 and "down as “Going”" in answered.get_data(as_text=True)
    assert rsvps(app, event["id"]) == {ADDRESS: "going"}

    # A link whose tag names another address answers for nobody.
    with app.app_context():
        secret = app.config["SECRET_KEY"]
        user_id = db.session.query(Rsvp).one().user_id
        forged = sign(secret, LinkPurpose.RSVP, [event["id"], user_id, address_tag(secret, "mallory@example.com")])
    assert client.get(f"/r/{forged}").status_code == 404


def test_an_rsvp_link_mailed_before_still_answers(app, client, make_user, bearer, worker):
    event = create_event(client, bearer(make_user("host@example.com")), title="Book club")
    with app.app_context():
        old = sign(app.config["SECRET_KEY"], LinkPurpose.RSVP, [event["id"], ADDRESS])
    path = f"/r/{old}"
    assert client.get(f"{path}?answer=maybe").status_code == 200
    answered = client.post(path, data={"answer": "maybe", "csrf_token": csrf_token(client, f"{path}?answer=maybe")})
    assert answered.status_code == 200, answered.get_data(as_text=True)
    assert rsvps(app, event["id"]) == {ADDRESS: "maybe"}


def verified(client, path: str) -> bool:
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code in (200, 404), response.get_data(as_text=True)
    return response.status_code == 200 and "Confirmed" in response.get_data(as_text=True)


def test_a_channel_verification_link_names_no_address(app, client, make_user, bearer, worker, smtp_sink):
    added = add_email_channel(client, bearer(make_user("bea@example.com")), address=ADDRESS, name="Work")
    assert added.status_code == 201, added.get_json()
    path = verify_path(smtp_sink, ADDRESS)
    assert_names_no_address(path.removeprefix("/channels/verify/"))

    with app.app_context():
        secret = app.config["SECRET_KEY"]
        other = sign(secret, LinkPurpose.VERIFY_CHANNEL, [added.get_json()["id"], address_tag(secret, "mallory@example.com")])
    assert not verified(client, f"/channels/verify/{other}")
    assert verified(client, path)
    with app.app_context():
        assert db.session.get(Integration, added.get_json()["id"]).email_verified_at is not None


def test_a_channel_verification_link_mailed_before_still_verifies(app, client, make_user, bearer, worker, smtp_sink):
    added = add_email_channel(client, bearer(make_user("bea@example.com")), address=ADDRESS, name="Work")
    assert added.status_code == 201, added.get_json()
    with app.app_context():
        old = sign(app.config["SECRET_KEY"], LinkPurpose.VERIFY_CHANNEL, [added.get_json()["id"], ADDRESS])
    assert verified(client, f"/channels/verify/{old}")
