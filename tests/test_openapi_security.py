"""The OpenAPI document says who may call each operation, as the server enforces it: every
operation that answers an anonymous caller 401 declares its security, every declared scheme
exists, and every scope an operation names is a real one."""
import re

from soonish.services.api_keys import SCOPES

METHODS = ("get", "post", "put", "patch", "delete")


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_every_security_requirement_names_a_scheme_that_exists(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes, "no security schemes at all"
    for requirement in spec.get("security", []):
        assert set(requirement) <= set(schemes), requirement
    for path, method, operation in operations(spec):
        for requirement in operation.get("security", []):
            assert set(requirement) <= set(schemes), (method, path, requirement)
        assert set(operation.get("x-required-scopes", [])) <= set(SCOPES), (method, path)


def test_every_operation_that_refuses_anonymous_callers_declares_security(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    checked = 0
    for path, method, operation in operations(spec):
        url = re.sub(r"\{[^}]+\}", "1", path)
        body = {} if method in ("post", "put", "patch", "delete") else None
        answer = getattr(client, method)(url, json=body)
        security = operation.get("security", spec.get("security", []))
        anonymous_allowed = not security or {} in security
        if answer.status_code == 401:
            assert not anonymous_allowed, f"{method.upper()} {path} answers 401 but declares no security"
            assert "401" in operation["responses"], f"{method.upper()} {path} doesn't document its 401"
            checked += 1
        elif not anonymous_allowed:
            raise AssertionError(f"{method.upper()} {path} declares security but let an anonymous caller in "
                                 f"({answer.status_code})")
    assert checked >= 20  # the walk reached the signed-in operations
