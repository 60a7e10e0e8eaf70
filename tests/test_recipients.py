"""Who got a message: the organizer's per-follower view of one notification's deliveries, in
the API and on a page, with the followers' addresses masked."""
from .api_helpers import announce, create_event, reports
from loopback.seeding import seed_subscribers
from loopback.sinks import wait_until

HTMX = {"HX-Request": "true"}


def sent_to_three(app, client, organizer, http_sink, smtp_sink) -> tuple[dict, dict]:
    """An announcement to two followers by email and one whose webhook answers 404."""
    event = create_event(client, organizer)
    seed_subscribers(app, event["id"], 2, prefix="follower")
    seed_subscribers(app, event["id"], 1, prefix="hooked", webhook_url=lambda i: http_sink.url("/gone"))
    # Every request to the hook answers 404, whichever attempt makes it: a batch retried after
    # a missed heartbeat on a busy box sends again, and "the second request fails" then named
    # another send.
    http_sink.failing, http_sink.failing_status = range(10**6), 404
    notification = announce(client, organizer, event["id"], "Doors open at 7")
    # Polled twice a second: ten a second met the API's rate limit on a slow run.
    wait_until(lambda: reports(client, organizer, event["id"])[0]["counts"] == {"sent": 2, "failed": 1, "pending": 0, "skipped": 0, "suppressed": 0},
               timeout=30, interval=0.5, message="the announcement to be settled")
    return event, notification


def test_the_api_lists_each_delivery_failures_first(app, client, make_user, bearer, worker, http_sink, smtp_sink):
    organizer = bearer(make_user("host@example.com"))
    event, notification = sent_to_three(app, client, organizer, http_sink, smtp_sink)
    path = f"/api/v1/events/{event['id']}/notifications/{notification['id']}/deliveries"

    everyone = client.get(path, headers=organizer).get_json()
    assert everyone["total"] == 3 and everyone["page"] == 1
    failed, *delivered = everyone["items"]
    assert failed["status"] == "failed" and "HTTP 404" in failed["last_error"] and failed["sent_at"] is None
    assert failed["follower"] == "h•••@example.com"
    assert sorted(item["follower"] for item in delivered) == ["f•••@example.com", "f•••@example.com"]
    assert all(item["status"] == "sent" and item["channel"] == "email" and item["sent_at"] for item in delivered)
    assert "follower0@example.com" not in str(everyone) and "/gone" not in str(everyone)

    only_failed = client.get(f"{path}?status=failed", headers=organizer).get_json()
    assert [item["follower"] for item in only_failed["items"]] == ["h•••@example.com"] and only_failed["total"] == 1
    second_page = client.get(f"{path}?per_page=2&page=2", headers=organizer).get_json()
    assert len(second_page["items"]) == 1 and second_page["total"] == 3

    for query, field in (("status=lost", "status"), ("page=0", "page"), ("per_page=500", "per_page")):
        refused = client.get(f"{path}?{query}", headers=organizer)
        assert refused.status_code == 422 and field in refused.get_json()["error"]["fields"], query
    other_event = create_event(client, organizer, title="Another night")
    wrong_event = client.get(f"/api/v1/events/{other_event['id']}/notifications/{notification['id']}/deliveries",
                             headers=organizer)
    assert wrong_event.status_code == 404


def test_the_page_shows_who_got_it_and_filters_in_place(app, client, make_user, bearer, login, worker, http_sink, smtp_sink):
    host = make_user("host@example.com")
    event, notification = sent_to_three(app, client, bearer(host), http_sink, smtp_sink)
    login(host)
    panel = client.get(f"/events/{event['id']}/deliveries").get_data(as_text=True)
    path = f"/events/{event['id']}/messages/{notification['id']}"
    assert f'href="{path}"' in panel and "Who got it" in panel

    page = client.get(path).get_data(as_text=True)
    assert "<html" in page and "Doors open at 7" in page
    assert page.count('data-status="sent"') == 2 and page.count('data-status="failed"') == 1
    assert page.index('data-status="failed"') < page.index('data-status="sent"')
    assert "f•••@example.com" in page and "follower0@example.com" not in page and "HTTP 404" in page

    failed_only = client.get(f"{path}?status=failed", headers=HTMX)
    fragment = failed_only.get_data(as_text=True)
    assert failed_only.status_code == 200 and "<html" not in fragment and fragment.count("data-status=") == 1
    assert client.get(f"{path}?status=lost&page=-3").status_code == 200  # a hand-edited URL: everyone, page 1
    assert client.get(f"/events/{event['id']}/messages/999999").status_code == 404
