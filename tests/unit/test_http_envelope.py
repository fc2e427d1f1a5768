"""The response envelope every HTTP service answers with, and the mapping of typed errors to stable codes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from mediacraft.shared.errors import Conflict, InvalidInput, NotFound, RetryableError
from mediacraft.shared.generation import _CODE_OF_FIELD
from mediacraft.shared.http.asgi import EnvelopeResponse, error_response
from mediacraft.shared.http.envelope import (
    STATUS_OF_CODE,
    ApiError,
    RequestIds,
    code_of_status,
    failure,
    from_domain,
    success,
)
from mediacraft.shared.media import errors as media_errors
from mediacraft.shared.ports.objects import TooLarge

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_success_is_the_documented_form() -> None:
    doc = success({"a": 1}, request_id="r1", now=NOW)
    assert doc == {
        "success": True,
        "code": 200,
        "message": "Success",
        "error_code": None,
        "data": {"a": 1},
        "meta": {"timestamp": "2030-01-02T03:04:05Z", "version": "v1", "request_id": "r1"},
    }
    assert list(doc) == ["success", "code", "message", "error_code", "data", "meta"]


def test_created_and_accepted_say_so_in_code() -> None:
    assert success(None, request_id="r", status=201)["code"] == 201
    assert success(None, request_id="r", status=202)["code"] == 202
    with pytest.raises(ValueError):
        success(None, request_id="r", status=404)


def test_a_failure_carries_its_status_and_its_stable_code() -> None:
    doc = failure(ApiError("not_found", "Task not found"), request_id="r")
    assert (doc["success"], doc["code"], doc["error_code"]) == (False, 404, "not_found")
    assert doc["message"] == "Task not found"
    with_data = failure(ApiError("unavailable", "Not ready", data={"ready": False}), request_id="r")
    assert (with_data["code"], with_data["data"]) == (503, {"ready": False})


def test_the_response_status_is_the_envelope_code() -> None:
    response = error_response(ApiError("rate_limited", "Slow down", headers={"Retry-After": "3"}), request_id="r")
    doc = json.loads(bytes(response.body))
    assert response.status_code == doc["code"] == 429 and response.headers["retry-after"] == "3"
    created = EnvelopeResponse(success({"id": 1}, request_id="r", status=201))
    assert created.status_code == 201 and created.media_type == "application/json"


def test_domain_errors_map_to_stable_codes() -> None:
    assert (from_domain(NotFound("x")).status, from_domain(NotFound("x")).code) == (404, "not_found")
    assert from_domain(Conflict("x")).status == 409
    assert from_domain(InvalidInput("bad", code="invalid_cursor")).code == "invalid_cursor"
    assert from_domain(InvalidInput("bad", code="weird")).code == "invalid_input"
    assert (from_domain(TooLarge("big")).status, from_domain(TooLarge("big")).code) == (413, "file_too_large")
    down = from_domain(RetryableError("broker unreachable at 10.0.0.7:5672"))
    assert (down.status, down.code, down.headers["Retry-After"]) == (503, "unavailable", "5")
    assert "10.0.0.7" not in down.message
    storage = from_domain(RetryableError("object storage unreachable: host:9000/bucket", code="storage_unavailable"))
    assert (storage.status, storage.code) == (503, "storage_unavailable")
    assert "bucket" not in storage.message and "9000" not in storage.message
    assert from_domain(RetryableError("slow", delay=12.4)).headers["Retry-After"] == "12"


def test_api_errors_default_to_the_status_of_their_code() -> None:
    assert ApiError("rate_limited", "slow").status == 429
    assert ApiError("forbidden_origin", "no").status == 403
    assert ApiError("unsupported_format", "no").status == 415


def test_every_code_the_shared_validators_raise_has_a_status() -> None:
    assert set(_CODE_OF_FIELD.values()) | {"invalid_generation_config", "unknown_parameter"} <= set(STATUS_OF_CODE)
    on_input = [cls for cls in vars(media_errors).values() if isinstance(cls, type) and issubclass(cls, InvalidInput)]
    media_codes = {cls.code for cls in on_input if cls is not media_errors.OutputTooLarge}  # a worker's, not HTTP
    assert media_codes <= set(STATUS_OF_CODE), media_codes - set(STATUS_OF_CODE)


def test_errors_the_framework_answers_get_a_stable_code() -> None:
    assert [code_of_status(s) for s in (404, 405, 422, 500, 502, 418)] == [
        "not_found",
        "method_not_allowed",
        "validation_error",
        "internal_error",
        "internal_error",
        "invalid_input",
    ]
    assert all(STATUS_OF_CODE[code_of_status(s)] == s for s in (401, 403, 404, 405, 413, 415, 422, 429, 503))


def test_request_ids_are_uuids_unless_the_caller_gave_one() -> None:
    ids = RequestIds()
    made = [ids.new() for _ in range(1000)]
    assert len(set(made)) == 1000 and all(uuid.UUID(m).version == 4 and str(uuid.UUID(m)) == m for m in made)
    assert ids.accept("trace-123") == "trace-123"
    assert uuid.UUID(ids.accept("no spaces allowed")) and uuid.UUID(ids.accept(None))
    assert RequestIds().new() != RequestIds().new()
