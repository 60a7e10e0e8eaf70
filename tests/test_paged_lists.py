"""Every list of the API is paged alike: `limit` (1 to 200) and `cursor` in, `{"items",
"next_cursor"}` and a `Link: <...>; rel="next"` header out."""
import re
from urllib.parse import urlsplit

from soonish.models import ChatIdentity

from .conftest import stored
from .test_series import create_series

LINK_NEXT = re.compile(r'^<([^>]+)>; rel="next"$')


def all_pages(client, path: str, headers: dict) -> list[list[dict]]:
    """Each page's items, following the Link headers from ``path`` to the last page."""
    pages = []
    while True:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        pages.append(body["items"])
        if body["next_cursor"] is None:
            assert "Link" not in response.headers
            return pages
        link = urlsplit(LINK_NEXT.match(response.headers["Link"]).group(1))
        assert f"cursor={body['next_cursor']}" in link.query
        path = f"{link.path}?{link.query}"


def test_a_series_occurrences_come_a_page_at_a_time_soonest_first(client, make_user, bearer):
    organizer = bearer(make_user())
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU,WE,TH,FR,SA;COUNT=5")

    pages = all_pages(client, f"/api/v1/series/{series['id']}/occurrences?limit=2", organizer)

    assert [len(page) for page in pages] == [2, 2, 1]
    starts = [event["starts_at"] for page in pages for event in page]
    assert starts == sorted(starts) and len(set(starts)) == 5
    assert all(event["series_id"] == series["id"] for page in pages for event in page)


def test_chat_accounts_come_a_page_at_a_time_oldest_first(app, client, make_user, bearer):
    user = make_user()
    identities = [stored(app, ChatIdentity(platform="slack", workspace_id="T0TEAM", external_user_id=f"U{n}",
                                           user_id=user.id, handle=f"u{n}")) for n in range(3)]

    pages = all_pages(client, "/api/v1/chat-accounts?limit=2", bearer(user))

    assert [[account["id"] for account in page] for page in pages] == [
        [identities[0].id, identities[1].id], [identities[2].id]]


def paged_list_paths(client) -> list[str]:
    """Every GET of the API whose answer the OpenAPI document calls a page, ids filled in with 1."""
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = []
    for path, operations in spec["paths"].items():
        answer = operations.get("get", {}).get("responses", {}).get("200", {})
        schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
        if "Link" in answer.get("headers", {}):
            name = schema["$ref"].rsplit("/", 1)[-1]
            # A page may carry more about the whole list (the RSVP list's counts), never less.
            assert {"items", "next_cursor"} <= set(spec["components"]["schemas"][name]["properties"])
            paths.append(re.sub(r"\{[^}]+\}", "1", path))
    return paths


def test_every_paged_list_names_limit_when_it_is_out_of_range(client, make_user, bearer):
    paths = paged_list_paths(client)
    assert {"/api/v1/series/1/occurrences", "/api/v1/chat-accounts", "/api/v1/events"} <= set(paths)
    headers = bearer(make_user())
    for path in paths:
        for limit in ("-1", "0", "201"):
            response = client.get(f"{path}?limit={limit}", headers=headers)
            assert response.status_code == 422, (path, limit, response.get_json())
            assert set(response.get_json()["error"]["fields"]) == {"limit"}, (path, limit)



def test_the_openapi_document_says_what_a_cursor_and_a_search_may_be(app, client, make_user, bearer):
    parameters = {parameter["name"]: parameter["schema"] for parameter in
                  client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/events"]["get"]["parameters"]}
    assert parameters["cursor"] == {"type": "string", "maxLength": 500, "pattern": "^[A-Za-z0-9_-]*$"}
    assert parameters["q"] == {"type": "string", "maxLength": 200, "pattern": "^[^\\x00]*$"}
    user = make_user()
    stored(app, ChatIdentity(platform="slack", workspace_id="T0TEAM", external_user_id="U1", user_id=user.id))
    stored(app, ChatIdentity(platform="slack", workspace_id="T0TEAM", external_user_id="U2", user_id=user.id))
    cursor = client.get("/api/v1/chat-accounts?limit=1", headers=bearer(user)).get_json()["next_cursor"]
    assert re.fullmatch(parameters["cursor"]["pattern"], cursor)

    response = client.get("/api/v1/events?cursor=" + cursor + ".")
    assert response.status_code == 422 and list(response.get_json()["error"]["fields"]) == ["cursor"]
