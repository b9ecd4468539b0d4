"""Fuzz the gateway from its own OpenAPI document (schemathesis): for every
documented operation, schema-valid and schema-breaking requests alike are
answered with a documented status and body, never a 5xx, never a hang.

The document is the one the gateway serves at ``GET /openapi.json``
(``services/gateway/openapi.json``; the gateway's own tests check that the
two are identical). It is loaded when the module is collected, so each
operation is its own test, and the requests go to the in-process stack of
``inprocess_stack.py`` (gateway, user, two book replicas; real HTTP and gRPC on free
ports). Every answer goes through schemathesis's default checks (no server
error, status and content type documented, body matching the documented
schema, schema-breaking input refused, schema-valid input accepted) and two
of ours: a 4xx carries the ``{"error": {"code", "message"}}`` body, and no
answer takes longer than the gateway's deadline allows.

Examples per operation are bounded (:data:`EXAMPLES`). Where schemathesis
did not break the path or the headers on purpose, about half of the requests
get the seeded user's own id or the seeded book's id in the path, so fuzzed
bodies reach the backends rather than stopping at "not found" or
"forbidden", and about half carry the seeded user's bearer token.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from gateway.__main__ import OPENAPI_PATH
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from reliability.fuzz.inprocess_stack import REQUEST_TIMEOUT, FuzzStack
from schemathesis.core.parameters import ParameterLocation

EXAMPLES = 50
"""Generated requests per operation, at most (schema-valid and schema-breaking together):
450 for the nine API operations, a few for the four fixed routes."""

HANG_LIMIT = REQUEST_TIMEOUT + 3.0
"""Seconds an answer may take: past the in-process gateway's request deadline,
so only a hang can cross it."""

schema = schemathesis.openapi.from_dict(json.loads(OPENAPI_PATH.read_text(encoding="utf-8")))


def error_body(ctx: Any, response: Any, case: Any) -> None:
    """A 4xx answer is the contract's JSON error: ``{"error": {"code", "message"}}``."""
    if not 400 <= response.status_code < 500:
        return
    body = json.loads(response.content)
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body


def no_hang(ctx: Any, response: Any, case: Any) -> None:
    """The answer came within :data:`HANG_LIMIT` seconds."""
    assert response.elapsed < HANG_LIMIT, f"answered after {response.elapsed:.1f}s"


def _generated_invalid(case: Any, location: ParameterLocation) -> bool:
    """Whether schemathesis broke the schema on purpose at ``location`` (leave it alone)."""
    return case.meta is not None and case.meta.is_negative_at(location)


def _aim(case: Any, stack: FuzzStack) -> None:
    """Point the path's ``{id}`` at the seeded user (under /users) or book (under /books)."""
    if "id" not in (case.path_parameters or {}) or _generated_invalid(case, ParameterLocation.PATH):
        return
    own = stack.user_id if case.path.startswith("/api/v1/users/") else stack.book_id
    case.path_parameters = {**case.path_parameters, "id": own}


@schema.parametrize()
@schema.given(aim=st.booleans(), authorized=st.booleans())
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_gateway_answers_every_generated_request_well(
        case: Any, aim: bool, authorized: bool, fuzz_stack: FuzzStack) -> None:
    """No 5xx, no undocumented answer, no hang, for any generated request."""
    if aim:
        _aim(case, fuzz_stack)
    headers = None
    if authorized and not _generated_invalid(case, ParameterLocation.HEADER):
        headers = {"Authorization": f"Bearer {fuzz_stack.token}"}
    case.call_and_validate(base_url=fuzz_stack.url, headers=headers, timeout=HANG_LIMIT + 2,
                           additional_checks=[error_body, no_hang])
