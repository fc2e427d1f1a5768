"""A video-creation project's script written by the local provider, through the whole product
running in this process (Standalone in a thread, nothing configured), over real HTTP: created,
started (202 at once), progress rising with its plain message to 100, back to `draft` with a
script whose scene durations sum to the target, listed by `unfinished` until marked notified.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.flows.client import Visitor
from tests.fixtures.served_product import ServedProduct
from tests.fixtures.waiting import poll

BASE = "/api/video-creation"
WAIT = 60.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProduct]:
    product = ServedProduct(tmp_path_factory.mktemp("creation-standalone"), name="creation-standalone")
    product.start()
    yield product
    product.stop()


@pytest.fixture
def visitor(served: ServedProduct) -> Iterator[Visitor]:
    person = Visitor(served.url, "creator")
    yield person
    person.close()


def status_of(visitor: Visitor, project_id: str) -> dict[str, Any]:
    return dict(visitor.call("GET", f"{BASE}/projects/{project_id}/status", expect=200)["data"])


def unfinished_ids(visitor: Visitor) -> list[str]:
    return [p["id"] for p in visitor.call("GET", f"{BASE}/unfinished", expect=200)["data"]["projects"]]


def test_the_local_provider_writes_a_script_that_fills_the_target(visitor: Visitor) -> None:
    brief = {"title": "Green tea", "topic": "Picking. Withering. Rolling. Drying. Brewing.", "targetSeconds": 45}
    project = visitor.call("POST", f"{BASE}/projects", json=brief, expect=201)["data"]
    assert project["status"] == "draft" and project["scriptData"] is None

    began = time.monotonic()
    started = visitor.call("POST", f"{BASE}/projects/{project['id']}/script", expect=202)["data"]
    assert time.monotonic() - began < 1.0  # answered at once: the script is written in the background
    assert started["status"] == "generating_script"
    again = visitor.call("POST", f"{BASE}/projects/{project['id']}/script", expect=409)
    assert again["error_code"] == "script_in_progress"
    assert project["id"] in unfinished_ids(visitor)

    seen: list[dict[str, Any]] = []

    def finished() -> bool:
        state = status_of(visitor, project["id"])
        seen.append(state)
        return state["status"] != "generating_script"

    poll(finished, timeout=WAIT, what="the script", interval=0.05)
    done = seen[-1]
    assert done["status"] == "draft", done
    assert done["progress"] == 100 and done["progressMessage"] == "script ready" and done["completedAt"]
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress), progress  # never backwards
    assert any(0 < p < 100 for p in progress), progress  # seen on its way
    messages = {s["progressMessage"] for s in seen}
    assert any(str(m).startswith("writing scene") for m in messages), messages
    script = done["scriptData"]
    assert script["madeWithoutModel"] is True and script["provider"] == "local"
    assert round(sum(scene["durationSeconds"] for scene in script["scenes"]), 1) == 45
    assert all(scene["narration"] and scene["shot"] for scene in script["scenes"])
    assert visitor.call("GET", f"{BASE}/projects/{project['id']}", expect=200)["data"]["scriptData"] == script

    # finished, not yet announced: still unfinished until marked notified, not after
    assert project["id"] in unfinished_ids(visitor)
    marked = visitor.call("POST", f"{BASE}/projects/{project['id']}/notified", expect=200)["data"]
    assert marked["notified"] is True
    assert project["id"] not in unfinished_ids(visitor)

    # the script task is an ordinary task of the person's task list
    tasks = visitor.call("GET", "/api/user/tasks", params={"type": "video_script"}, expect=200)["data"]["tasks"]
    assert [(t["task_id"], t["status"]) for t in tasks] == [(done["scriptTaskId"], "completed")]
