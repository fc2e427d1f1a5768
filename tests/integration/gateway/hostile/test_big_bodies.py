"""100 MB JSON bodies to every endpoint that takes a body (and to those that take none), declared
and chunked: each is refused with 413 `payload_too_large` having read at most the limit, nothing
is created or left behind, and the gateway's peak memory stays flat (read from outside the process)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.gateway.hostile.conftest import (
    HUNDRED_MB,
    MAX_RISE_BYTES,
    PIECE,
    ServedGateway,
    identity,
    json_filler,
    send_hostile,
)

pytestmark = pytest.mark.slow

# every POST of the API but the two upload routes' multipart bodies; {task} is the caller's draft
ENDPOINTS = [
    "/api/tasks/create",
    "/api/tasks/{task}/config",
    "/api/tasks/notified",
    "/api/tasks/submit",
    "/api/tasks/{task}/notified",
    "/api/tasks/{task}/cancel",
    "/api/tasks/{task}/retry",
    "/api/tasks/{task}/hide",
    "/api/tasks/clear-finished",
    "/api/tasks/{task}/upload",  # a JSON body where a multipart one belongs gets the JSON limit
]


@pytest.fixture(scope="module")
def visitor(product: ServedGateway) -> dict[str, Any]:
    """A visitor with a draft, and a first refused request behind it (the process warmed up)."""
    cookie = identity(product.url)
    r = httpx.post(
        f"{product.url}/api/tasks/create",
        json={"task_type": "watermark_removal"},
        cookies={"mc_uid": cookie},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    send_hostile(product.url, "/api/tasks/create", json_filler(4 * PIECE), cookie=cookie)
    return {"cookie": cookie, "task": r.json()["data"]["task_id"]}


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "chunked"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_100_mb_json_body_is_refused_in_flat_memory(
    product: ServedGateway, visitor: dict[str, Any], endpoint: str, declared: bool
) -> None:
    path = endpoint.format(task=visitor["task"])
    before = product.state(visitor["cookie"])
    peak_before = product.memory("VmHWM")

    answer = send_hostile(
        product.url,
        path,
        json_filler(HUNDRED_MB),
        cookie=visitor["cookie"],
        declared=HUNDRED_MB if declared else None,
        answer_within=10.0 if declared else 0.0,
    )

    assert (answer.status, answer.error_code) == (413, "payload_too_large"), answer
    if declared:
        assert answer.sent == 0, "refused on the headers alone"
    assert answer.sent < HUNDRED_MB // 4, "the server stopped reading long before the end"
    assert product.memory("VmHWM") - peak_before < MAX_RISE_BYTES
    assert product.state(visitor["cookie"]) == before


def test_a_100_mb_body_from_a_new_visitor_mints_no_identity(product: ServedGateway) -> None:
    users = product.rows()["users"]
    answer = send_hostile(
        product.url, "/api/tasks/create", json_filler(HUNDRED_MB), cookie=None, declared=HUNDRED_MB, answer_within=10.0
    )
    assert (answer.status, answer.error_code) == (413, "payload_too_large")
    assert "set-cookie" not in answer.headers
    assert product.rows()["users"] == users
