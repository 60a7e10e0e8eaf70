"""Small steps through the real API that many tests take."""
from datetime import datetime, timedelta, timezone


def future_iso(days: float = 7) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0).isoformat()


def create_event(client, headers, **fields) -> dict:
    body = {"title": "Launch party", "starts_at": future_iso(7), "timezone": "Europe/Paris", "location": "Atelier"}
    body.update(fields)
    response = client.post("/api/v1/events", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def add_integration(client, headers, url: str, tag: str = "", name: str = "hook") -> dict:
    response = client.post("/api/v1/integrations", json={"name": name, "url": url, "tag": tag}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def subscribe(client, headers, event_id: int, **body) -> dict:
    response = client.post(f"/api/v1/events/{event_id}/subscriptions", json=body, headers=headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def follow_by_webhook(client, headers, event_id: int, url: str, **body) -> dict:
    """The caller adds a webhook channel and follows the event through it."""
    hook = add_integration(client, headers, url)
    return subscribe(client, headers, event_id, selectors=[{"integration_id": hook["id"]}], **body)


def announce(client, headers, event_id: int, title: str, body: str = "") -> dict:
    response = client.post(f"/api/v1/events/{event_id}/announcements", json={"title": title, "body": body}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def reports(client, headers, event_id: int) -> list[dict]:
    response = client.get(f"/api/v1/events/{event_id}/notifications", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]
