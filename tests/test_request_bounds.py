"""What a request may carry: a JSON body nested too deep is a 400, a body over its route's cap
a 413, an address over URL_MAX_BYTES a 414; JSON under /api/, the error page elsewhere. Also
through real gunicorn, whose own limit on the request line sits above the app's."""
import io
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from PIL import Image

from soonish.web.request_bounds import JSON_DEPTH_MAX, URL_MAX_BYTES

from .api_helpers import create_event
from .conftest import csrf_token
from loopback.processes import STARTUP_TIMEOUT
from loopback.sinks import free_port, wait_until
from .test_covers import upload

DEEP = "[" * 1000 + "]" * 1000  # 2 kB: Python's json parser gives up with a RecursionError


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    return response.get_json()["error"]


@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/auth/register", "/api/v1/events"])
def test_a_deeply_nested_json_body_is_a_400_naming_the_body(client, make_user, bearer, path):
    error = assert_json_error(client.post(path, data=DEEP, content_type="application/json",
                                          headers=bearer(make_user())), 400)
    assert error["fields"] == {"json": [f"Nested deeper than {JSON_DEPTH_MAX} levels."]}
    assert error["message"] == f"The request body nests deeper than {JSON_DEPTH_MAX} levels."


def test_json_nested_as_deep_as_allowed_is_parsed_and_one_level_more_is_refused(client):
    allowed = '{"email": ' + "[" * (JSON_DEPTH_MAX - 1) + "]" * (JSON_DEPTH_MAX - 1) + "}"
    error = assert_json_error(client.post("/api/v1/auth/token", data=allowed, content_type="application/json"), 422)
    assert set(error["fields"]) == {"email", "password"}  # read by the schema: a list is no email
    deeper = '{"email": ' + "[" * JSON_DEPTH_MAX + "]" * JSON_DEPTH_MAX + "}"
    assert_json_error(client.post("/api/v1/auth/token", data=deeper, content_type="application/json"), 400)


def test_brackets_in_strings_are_text_and_broken_json_is_still_named(client):
    text = "[" * 2000
    error = assert_json_error(client.post("/api/v1/auth/token", json={"email": "a@example.com", "password": text}), 401)
    assert error["code"] == "unauthorized"
    error = assert_json_error(client.post("/api/v1/auth/token", data="[" * 2000, content_type="application/json"), 400)
    assert error["fields"] == {"json": [f"Nested deeper than {JSON_DEPTH_MAX} levels."]}
    error = assert_json_error(client.post("/api/v1/auth/token", data='{"email": ', content_type="application/json"), 400)
    assert error["fields"] == {"json": ["Invalid JSON body."]}


def test_a_deeply_nested_json_body_to_a_page_gets_the_error_page(client):
    response = client.post("/register", data=DEEP, content_type="application/json")
    assert response.status_code == 400 and response.mimetype == "text/html"


def test_a_body_over_a_mebibyte_is_a_413_in_json_on_the_api(client):
    body = '{"email": "a@example.com", "password": "' + "x" * (1024 * 1024) + '"}'
    error = assert_json_error(client.post("/api/v1/auth/token", data=body, content_type="application/json"), 413)
    assert error["code"] == "request_entity_too_large"


def test_a_cover_may_be_larger_than_other_bodies(app, client, make_user, bearer, login):
    host = make_user()
    event = create_event(client, bearer(host), title="Rooftop jazz")
    login(host)
    noise = io.BytesIO()
    Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3)).save(noise, "PNG")
    assert 1024 * 1024 < len(noise.getvalue()) < 5 * 1024 * 1024
    assert "Cover image saved" in upload(client, event, noise.getvalue(), "cover.png").get_data(as_text=True)
    too_big = client.post(f"/events/{event['id']}/cover", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, f"/e/{event['slug']}"), "cover": (io.BytesIO(b"\0" * (6 * 1024 * 1024)), "c.png")})
    assert too_big.status_code == 413 and too_big.mimetype == "text/html"


def test_an_address_over_the_limit_is_a_414_in_json_on_the_api_and_a_page_elsewhere(client):
    query = "q=" + "a" * URL_MAX_BYTES
    error = assert_json_error(client.get(f"/api/v1/events?{query}"), 414)
    assert error["code"] == "request_uri_too_long"
    assert_json_error(client.get("/api/v1/" + "a" * URL_MAX_BYTES), 414)
    page = client.get(f"/login?{query}")
    assert page.status_code == 414 and page.mimetype == "text/html"
    assert client.get("/api/v1/events?q=" + "a" * 200).status_code == 200


def test_gunicorn_leaves_an_over_long_address_to_the_app(database_url, tmp_path):
    port = free_port()
    env = {**os.environ, "SOONISH_DATABASE_URL": database_url, "SOONISH_DEV": "1"}
    with open(tmp_path / "web.log", "wb") as log:
        web = subprocess.Popen([sys.executable, "-m", "soonish", "web", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                               env=env, stderr=log)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert web.poll() is None, (tmp_path / "web.log").read_text()
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_until(answers, STARTUP_TIMEOUT, 0.2, "gunicorn to answer")
        # Longer than gunicorn's default request line (4094 bytes), shorter than what cli.py sets.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/v1/events?q={'a' * 6000}", timeout=STARTUP_TIMEOUT)
        assert refused.value.code == 414 and refused.value.headers.get_content_type() == "application/json"
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(30)


def test_the_openapi_document_states_the_bounds(client):
    rules = client.get("/api/v1/openapi.json").get_json()["info"]["description"]
    assert f"nested deeper than {JSON_DEPTH_MAX} levels gets 400" in rules
    assert "over 1 MiB 413" in rules and f"over {URL_MAX_BYTES:,} bytes 414" in rules
