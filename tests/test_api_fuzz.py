"""schemathesis over the OpenAPI document with every check it has (the CLI's `--checks all`):
no 5xx, every response as the spec says (status, headers, body, content type, Allow on 405),
invalid input refused, valid input accepted, missing auth refused where the spec asks for it.

Runs against the app in-process (WSGI), anonymous and with a bearer token, valid and invalid
inputs, a bounded number of examples per operation. No worker runs: what a request causes later
is an outbox row (its drain is tested elsewhere), and every answer is given before it.
"""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup

from loopback.push_service import TEST_VAPID_KEY

pytestmark = pytest.mark.slow

# Examples per operation and mode on every run. Hypothesis draws new ones each run (no example
# database), and `make test` runs this file twice, on SQLite and on PostgreSQL: 4 here is 8
# different examples per operation and mode in every `make test`. At 8 each, the fuzz was 150 s
# of the whole run's 1,600 s of CPU on 2 cores (Hypothesis drawing inputs from the schemas).
# For a deeper look: SOONISH_FUZZ_EXAMPLES=100 pytest tests/test_api_fuzz.py
EXAMPLES_PER_OPERATION = int(os.environ.get("SOONISH_FUZZ_EXAMPLES", "4"))
# Anonymous, an operation that needs a key is refused before its input is read: a few examples
# show the refusal as documented (401 with its body); more would only repeat it.
EXAMPLES_REFUSED_UNSIGNED = 3
# Schema-valid input may still break a rule JSON Schema cannot state (an event's end after its
# start, an email domain that can receive mail): the API answers 422 with the field, as
# documented. Anything else for valid input (a 400, a 5xx) is still a failure.
# Invalid input may also be refused for its size (API_RULES): a body over 1 MiB (413) or a query
# string over 4,000 bytes (414), as schemathesis' arrays of query values can make; the rest of
# the list is schemathesis' own.
# A link's token may be schema-valid and used or expired: 410, as documented.
CONFIG = SchemathesisConfig.from_dict({"checks": {
    "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "410", "422"]},
    "negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "414",
                                                      "415", "422", "428", "429", "5xx"]},
}})


load_all_checks()
ALL_CHECKS = CHECKS.get_all()  # `--checks all`


def needs_credentials(operation) -> bool:
    """The spec asks for a bearer token or a key, with no anonymous alternative (``{}``)."""
    requirements = operation.definition.raw.get("security")
    return bool(requirements) and {} not in requirements


# The operations are fuzzed in this many parts, each a test of its own: the suite's processes
# share them (about 100 s of CPU in all, mostly Hypothesis drawing inputs from the schemas),
# where as two tests one process ran them alone while the other had finished.
PARTS = 4


def fuzz(app, headers: dict, part: int) -> list[str]:
    """Every ``PARTS``th operation from ``part`` on, valid and invalid input; the failures, each
    with a curl to reproduce it."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)
    failures = []
    for index, result in enumerate(schema.get_all_operations()):
        if index % PARTS != part:
            continue
        operation = result.ok()
        refused_unsigned = not headers and needs_credentials(operation)
        modes = (GenerationMode.POSITIVE,) if refused_unsigned else (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        examples = EXAMPLES_REFUSED_UNSIGNED if refused_unsigned else EXAMPLES_PER_OPERATION
        for mode in modes:

            @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case):
                case.call_and_validate(headers=headers, checks=ALL_CHECKS)

            try:
                exercise()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing in the operation can be made invalid
            except FailureGroup as group:  # collect them all: one run shows every defect
                reproduce = str(group).split("Reproduce with:")[-1].strip()
                failures += [f"{operation.label} [{mode.value}] {f.title}: {f.message}\n{reproduce}" for f in group.exceptions]
    return failures


@pytest.fixture
def fuzz_app(app):
    # Fuzzing is not about rate limits: a budget it cannot exhaust, limits still on.
    app.config.update(LOGIN_RATE_LIMIT="10000 per minute", LOGIN_RATE_LIMIT_PER_IP="10000 per minute",
                      API_RATE_LIMIT="10000 per minute", PASSWORD_RESET_RATE_LIMIT_PER_IP="10000 per minute",
                      PASSWORD_RESET_RATE_LIMIT_PER_EMAIL="10000 per minute",
                      SUBSCRIBE_RATE_LIMIT_PER_IP="10000 per minute", SUBSCRIBE_RATE_LIMIT_PER_EMAIL="10000 per minute")
    # Push set up, as in production: without a key its operations answer 503 (documented).
    app.config["VAPID_PRIVATE_KEY"] = TEST_VAPID_KEY
    return app


@pytest.mark.parametrize("part", range(PARTS))
def test_api_anonymous(fuzz_app, part):
    failures = fuzz(fuzz_app, {}, part)
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("part", range(PARTS))
def test_api_signed_in(fuzz_app, make_user, bearer, part):
    failures = fuzz(fuzz_app, bearer(make_user()), part)
    assert not failures, "\n\n".join(failures)
