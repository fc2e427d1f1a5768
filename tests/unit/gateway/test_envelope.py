"""The response envelope and the mapping of typed errors to stable codes."""

from __future__ import annotations

import json

from mediacraft.gateway.envelope import ApiError, EnvelopeResponse, from_domain
from mediacraft.shared.errors import Conflict, InvalidInput, NotFound, RetryableError
from mediacraft.shared.ports.objects import TooLarge


def test_every_answer_has_the_envelope_fields() -> None:
    response = EnvelopeResponse({"a": 1}, request_id="r1", version="1")
    doc = json.loads(response.body)
    assert set(doc) == {"success", "code", "message", "data", "meta"}
    assert set(doc["meta"]) == {"timestamp", "version", "request_id"}
    assert doc["success"] is True and doc["code"] == "ok" and doc["meta"]["request_id"] == "r1"


def test_an_error_answer_is_unsuccessful_with_its_code_and_status() -> None:
    response = EnvelopeResponse(None, request_id="r", version="1", code="not_found", message="Task not found")
    doc = json.loads(response.body)
    assert response.status_code == 404 and doc["success"] is False and doc["code"] == "not_found"


def test_domain_errors_map_to_stable_codes() -> None:
    assert (from_domain(NotFound("x")).status, from_domain(NotFound("x")).code) == (404, "not_found")
    assert from_domain(Conflict("x")).status == 409
    assert from_domain(InvalidInput("bad", code="invalid_cursor")).code == "invalid_cursor"
    assert from_domain(InvalidInput("bad", code="weird")).code == "invalid_input"
    assert (from_domain(TooLarge("big")).status, from_domain(TooLarge("big")).code) == (413, "file_too_large")
    assert from_domain(RetryableError("down")).status == 500


def test_api_errors_default_to_the_status_of_their_code() -> None:
    assert ApiError("rate_limited", "slow").status == 429
    assert ApiError("forbidden_origin", "no").status == 403
    assert ApiError("unsupported_format", "no").status == 415
