"""Every instant a person gives (an event's times, a key's expiry, a list's bounds) goes through
the one range check events use (services.events.to_utc): outside the years UTC can hold, a 422
naming the field, on the API and on the pages."""
import pytest

from .conftest import csrf_token

# Year 10000 in UTC, and year 0.
PAST_THE_END = "9999-12-31T23:59:59-14:00"
BEFORE_THE_START = "0001-01-01T00:00:00+14:00"


@pytest.mark.parametrize("expires_at", [PAST_THE_END, BEFORE_THE_START])
def test_a_key_expiring_outside_the_calendar_is_a_422_naming_expires_at(client, make_user, bearer, expires_at):
    response = client.post("/api/v1/api-keys", json={"name": "CI", "scopes": ["announce"], "expires_at": expires_at},
                           headers=bearer(make_user()))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert list(response.get_json()["error"]["fields"]) == ["expires_at"]
    assert "out of range" in response.get_json()["error"]["fields"]["expires_at"][0]


def test_a_key_expiring_on_the_last_day_utc_holds_is_kept(client, make_user, bearer):
    response = client.post("/api/v1/api-keys", json={"name": "CI", "scopes": ["announce"],
                                                     "expires_at": "9999-12-31T23:59:59+00:00"},
                           headers=bearer(make_user()))
    assert response.status_code == 201 and response.get_json()["expires_at"] == "9999-12-31T23:59:59+00:00"


@pytest.mark.parametrize("bound", ["starts_after", "starts_before"])
def test_a_list_bound_outside_the_calendar_is_a_422_naming_it(client, bound):
    response = client.get("/api/v1/events", query_string={bound: PAST_THE_END})
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == [bound]


def test_the_key_form_says_what_is_wrong_with_an_expiry(client, make_user, login):
    login(make_user())
    page = client.post("/account/api-keys", data={"csrf_token": csrf_token(client, "/account/api-keys"),
                                                     "name": "CI", "scopes": ["announce"], "expires_on": "2001-01-01"})
    assert page.status_code == 422 and "The expiry must be in the future." in page.get_data(as_text=True)
