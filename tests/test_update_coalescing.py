"""Rapid edits coalesce (issue 15.3): edits to one event within UPDATE_COALESCE_SECONDS of the
first one not yet told reach each follower as one update describing the final state; an
announcement is never held back by them, and a cancellation makes them moot. Counted at real
sinks (SMTP for mail, HTTP for a json:// webhook) with the real Temporal dev server."""
import pytest
from temporalio.client import WorkflowExecutionStatus

from .api_helpers import announce, create_event, follow_by_webhook, future_iso, reports, subscribe
from loopback.sinks import wait_until
from .temporal_helpers import event_handle, wait_for_status

# Long enough that three API calls in a row land inside it on a loaded machine; the tests wait
# on what arrives, never on the clock.
WINDOW_SECONDS = 15


@pytest.fixture
def coalescing(app_config):
    app_config["UPDATE_COALESCE_SECONDS"] = WINDOW_SECONDS


@pytest.fixture
def short_window(app_config):
    app_config["UPDATE_COALESCE_SECONDS"] = 1


@pytest.fixture
def organizer(make_user, bearer):
    return bearer(make_user("host@example.com"))


def update_mails(smtp_sink, address: str):
    return [m for m in smtp_sink.to(address) if m["Subject"].startswith("Updated:")]


def text_of(mail) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()


def webhook_updates(http_sink, path: str):
    return [r for r in http_sink.delivered(path) if isinstance(r.body, dict) and r.body["title"].startswith("Updated:")]


def update_reports(client, organizer, event_id: int) -> list[dict]:
    return [r for r in reports(client, organizer, event_id) if r["notification"]["kind"] == "update"]


def edit(client, organizer, event_id: int, **changes) -> None:
    response = client.patch(f"/api/v1/events/{event_id}", json=changes, headers=organizer)
    assert response.status_code == 200, response.get_json()


@pytest.mark.slow
def test_three_edits_in_the_window_reach_each_follower_as_one_update_of_the_final_state(
    coalescing, app, client, make_user, bearer, organizer, worker, smtp_sink, http_sink
):
    event = create_event(client, organizer, title="Picnic", location="Park")
    subscribe(client, bearer(make_user("mail@example.com")), event["id"])
    follow_by_webhook(client, bearer(make_user("hook@example.com")), event["id"], http_sink.url("/hook"))
    new_start = future_iso(9)

    edit(client, organizer, event["id"], location="Hall A")
    edit(client, organizer, event["id"], starts_at=new_start)
    edit(client, organizer, event["id"], location="Hall B", title="Picnic indoors")

    wait_until(lambda: update_mails(smtp_sink, "mail@example.com") and webhook_updates(http_sink, "/hook"),
               timeout=WINDOW_SECONDS + 45, message="the update at both followers")
    wait_until(lambda: update_reports(client, organizer, event["id"])[0]["counts"]["pending"] == 0,
               message="the update settled")
    # The organizer's view: one update message, sent to both followers.
    (report,) = update_reports(client, organizer, event["id"])
    assert report["counts"] == {"sent": 2, "failed": 0, "pending": 0, "skipped": 0, "suppressed": 0}
    assert report["notification"]["title"] == "Updated: Picnic indoors"
    # Each follower: one update, telling the final state and every field changed since the start.
    (mail,) = update_mails(smtp_sink, "mail@example.com")
    (posted,) = webhook_updates(http_sink, "/hook")
    assert mail["Subject"] == posted.body["title"] == "Updated: Picnic indoors"
    for told in (text_of(mail), posted.body["message"]):
        assert "New place: Hall B (was Park)" in told
        assert "New name: Picnic indoors (was Picnic)" in told
        assert "New time:" in told
        assert "Hall A" not in told


@pytest.mark.slow
def test_an_announcement_during_the_window_goes_out_at_once(
    coalescing, app, client, make_user, bearer, organizer, worker, smtp_sink
):
    event = create_event(client, organizer, title="Picnic", location="Park")
    subscribe(client, bearer(make_user("mail@example.com")), event["id"])
    edit(client, organizer, event["id"], location="Hall A")
    announce(client, organizer, event["id"], "Bring a blanket")

    wait_until(lambda: any(m["Subject"] == "Bring a blanket" for m in smtp_sink.to("mail@example.com")),
               message="the announcement")
    assert update_mails(smtp_sink, "mail@example.com") == []  # the update still waits for its window
    wait_until(lambda: update_mails(smtp_sink, "mail@example.com"), timeout=WINDOW_SECONDS + 45,
               message="the held update, after the announcement")
    assert "New place: Hall A (was Park)" in text_of(update_mails(smtp_sink, "mail@example.com")[0])


def test_a_cancellation_during_the_window_is_all_followers_hear(
    coalescing, app, client, make_user, bearer, organizer, worker, harness, temporal_env, smtp_sink
):
    event = create_event(client, organizer, title="Picnic", location="Park")
    subscribe(client, bearer(make_user("mail@example.com")), event["id"])
    edit(client, organizer, event["id"], location="Hall A")
    edit(client, organizer, event["id"], location="Hall B")
    assert client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer).status_code == 200

    # The workflow ends once it has sent everything it will ever send for this event.
    wait_for_status(harness, event_handle(app, temporal_env, event["id"]), WorkflowExecutionStatus.COMPLETED,
                    timeout=60)
    subjects = sorted(m["Subject"] for m in smtp_sink.to("mail@example.com"))
    assert subjects == ["Cancelled: Picnic", "You're following Picnic"]
    kinds = [r["notification"]["kind"] for r in reports(client, organizer, event["id"])]
    assert kinds == ["cancel", "welcome"]


def test_edits_further_apart_than_the_window_are_separate_updates(
    short_window, client, make_user, bearer, organizer, worker, smtp_sink
):
    event = create_event(client, organizer, title="Picnic", location="Park")
    subscribe(client, bearer(make_user("mail@example.com")), event["id"])

    edit(client, organizer, event["id"], location="Hall A")
    wait_until(lambda: len(update_mails(smtp_sink, "mail@example.com")) == 1, timeout=60, message="the first update")
    edit(client, organizer, event["id"], location="Hall B")
    wait_until(lambda: len(update_mails(smtp_sink, "mail@example.com")) == 2, timeout=60, message="the second update")

    first, second = update_mails(smtp_sink, "mail@example.com")
    assert "New place: Hall A (was Park)" in text_of(first)
    assert "New place: Hall B (was Hall A)" in text_of(second)
    assert len(update_reports(client, organizer, event["id"])) == 2
