"""The operator console in the browser, against the whole product with real workers: nothing
without the operator credential; a failed task found by its error code and retried; a dead letter
replayed; a quota changed and obeyed by the next dispatch; a running task cancelled.

Each test runs against the product in this process (embedded adapters), then against the local
stack (RabbitMQ, SeaweedFS, a process per service). The failed task and the parked job are put in
place the way an outage leaves them (a task failed with the generation service's error code; a job
parked in dead.letters after its delivery limit, its task failed by the scheduler): making the
backend fail is test_retry_and_expiry.py's subject, and parking a job that keeps failing is the
bus suite's.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import httpx
import pytest

from mediacraft.shared.adapters.bus.memory import MemoryBus
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.messages import Envelope, RunJob
from mediacraft.shared.object_keys import attempt_prefix
from mediacraft.shared.tasks import Task, TaskError, TaskStatus
from mediacraft.shared.topology import DEAD_LETTERS
from tests.e2e.flows.conftest import launch
from tests.e2e.flows.product import STACK, ProductProcess
from tests.e2e.ui.conftest import DESKTOP, watch_for_page_errors
from tests.e2e.ui.helpers import expect
from tests.fixtures.served_product import ServedProduct, environment
from tests.fixtures.waiting import poll

TOKEN = "console-browser-test-token-0123456789"
T = TypeVar("T")


class ConsoleProduct:
    """The product under test, and a way to put things in its store and its dead letters."""

    url: str

    def insert(self, task: Task) -> Task:
        raise NotImplementedError

    def get(self, task_id: str) -> Task | None:
        raise NotImplementedError

    def park(self, body: bytes, headers: dict[str, Any]) -> None:
        """Put a message in dead.letters as the broker parks one."""
        raise NotImplementedError


class InProcess(ConsoleProduct):
    """The single-process product on a thread of this test process (embedded adapters)."""

    def __init__(self, served: ServedProduct) -> None:
        self.served, self.url = served, served.url

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self.served._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.served._loop).result(timeout=30)

    def insert(self, task: Task) -> Task:
        return self._run(self.served.standalone.adapters.store.insert(task))

    def get(self, task_id: str) -> Task | None:
        return self._run(self.served.standalone.adapters.store.get(task_id))

    def park(self, body: bytes, headers: dict[str, Any]) -> None:
        bus = self.served.standalone.adapters.bus
        assert isinstance(bus, MemoryBus)  # the single-process mode's bus
        self._run(bus.publish_raw("", DEAD_LETTERS, body, headers=headers))


class Stack(ConsoleProduct):
    """The local stack: every service its own process, on a RabbitMQ vhost and a SeaweedFS bucket,
    the store a SQLite file under its data dir (opened here beside the services, as WAL allows)."""

    def __init__(self, process: ProductProcess) -> None:
        self.process, self.url = process, process.url
        self.bus_url = process.settings["MEDIACRAFT_BUS_URL"]

    async def _with_store(self, use: Callable[[SqliteStore], Awaitable[T]]) -> T:
        store = SqliteStore(self.process.data_dir / "mediacraft.db")
        await store.start()
        try:
            return await use(store)
        finally:
            await store.close()

    @staticmethod
    def _run(coro: Coroutine[Any, Any, T]) -> T:
        # on a thread of its own: Playwright's sync API keeps an event loop running on this one
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, coro).result(timeout=30)

    def insert(self, task: Task) -> Task:
        return self._run(self._with_store(lambda store: store.insert(task)))

    def get(self, task_id: str) -> Task | None:
        return self._run(self._with_store(lambda store: store.get(task_id)))

    def park(self, body: bytes, headers: dict[str, Any]) -> None:
        async def publish() -> None:
            connection = await aio_pika.connect(self.bus_url)
            async with connection:
                channel = await connection.channel()
                message = aio_pika.Message(body, headers=headers, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                await channel.default_exchange.publish(message, routing_key=DEAD_LETTERS)

        self._run(publish())


CONSOLE_SETTINGS = {"MEDIACRAFT_OPERATOR_TOKEN": TOKEN, "MEDIACRAFT_POOLS_RECORD_SECONDS": "0.5"}


@pytest.fixture(scope="module", params=["in-process", STACK])
def ops_product(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProduct]:
    """The product with its operator console on (a token), quotas at their defaults: in this process,
    then as the local stack (RabbitMQ, SeaweedFS, a process per service)."""
    if request.param == STACK:
        process = launch(request, STACK, tmp_path_factory.mktemp("console-stack"), CONSOLE_SETTINGS)
        process.start()
        try:
            yield Stack(process)
        finally:
            process.stop()
        return
    with environment(CONSOLE_SETTINGS):
        served = ServedProduct(tmp_path_factory.mktemp("ui-console"), name="ui-console")
    served.start()
    yield InProcess(served)
    served.stop()


@pytest.fixture
def visitor(ops_product: ConsoleProduct) -> Iterator[httpx.Client]:
    """A person using the product's API (their own identity cookie)."""
    with httpx.Client(base_url=ops_product.url, timeout=10) as client:
        yield client


def submit(visitor: httpx.Client, task_type: str, config: dict[str, Any]) -> str:
    response = visitor.post("/api/tasks/submit", json={"task_type": task_type, "config": config})
    assert response.status_code == 202, response.text
    task_id: str = response.json()["data"]["task_id"]
    return task_id


def status_of(visitor: httpx.Client, task_id: str) -> str:
    status: str = visitor.get(f"/api/tasks/{task_id}/status").json()["data"]["status"]
    return status


def wait_for(visitor: httpx.Client, task_id: str, status: str, timeout: float = 60) -> None:
    poll(lambda: status_of(visitor, task_id) == status, timeout=timeout, what=f"{task_id} to be {status}")


@pytest.fixture
def console(browser: Any, ops_product: ConsoleProduct) -> Iterator[Any]:
    """The console's page in a fresh browser context, signed in with the operator token."""
    ctx = browser.new_context(base_url=ops_product.url, viewport=DESKTOP, locale="en-GB")
    problems = watch_for_page_errors(ctx)
    page = ctx.new_page()
    page.goto("/ops/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_label("Operator token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#console")).to_be_visible()
    yield page
    ctx.close()
    assert not problems, problems


def find_task(page: Any, **fields: str) -> Any:
    """Search the Tasks tab and open the single result's record; returns the detail panel."""
    page.get_by_role("tab", name="Tasks").click()
    labels = {"task_id": "Task id", "user_id": "User id", "error_code": "Error code"}
    for name, label in labels.items():
        page.get_by_label(label, exact=True).fill(fields.get(name, ""))
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#task-rows tr")
    expect(rows).to_have_count(1)
    rows.first.click()
    detail = page.locator("#task-detail")
    expect(detail).to_be_visible()
    return detail


def seed_failed_copy(product: ConsoleProduct, of: str, *, code: str, message: str) -> Task:
    """A failed task with the same owner, type and parameters as task `of`, as an outage leaves it."""
    model = product.get(of)
    assert model is not None
    now = model.created_at + timedelta(seconds=1)
    failed = Task(
        task_id=str(uuid.uuid4()), user_id=model.user_id, task_type=model.task_type, config=model.config,
        status=TaskStatus.FAILED, created_at=now, submitted_at=now, started_at=now, completed_at=now,
        attempts=4, retry_count=3, max_retries=3, error=TaskError(code=code, message=message, retryable=True),
        error_message=message, message=message,
    )  # fmt: skip
    return product.insert(failed)


IMAGE = {"prompt": "a lighthouse at dawn", "width": 256, "height": 256}


def test_nothing_is_shown_or_done_without_the_operator_credential(browser: Any, ops_product: ConsoleProduct) -> None:
    ctx = browser.new_context(base_url=ops_product.url, viewport=DESKTOP, locale="en-GB")
    problems = watch_for_page_errors(ctx)
    try:
        page = ctx.new_page()
        page.goto("/ops/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.locator("#login")).to_be_visible()
        expect(page.locator("#console")).to_be_hidden()

        # the API refuses, with or without a visitor's identity cookie
        for path in ("/ops/api/pools", "/ops/api/tasks", "/ops/api/dead-letters", "/ops/api/quotas"):
            refused = page.request.get(path)
            assert refused.status == 401 and refused.json()["error_code"] == "unauthorized", path
        page.request.get("/api/user/info")
        assert page.request.get("/ops/api/tasks").status == 401
        changed = page.request.put("/ops/api/quotas", data={"per_user": 9})
        assert changed.status == 401

        page.get_by_label("Operator token").fill("not the token, not at all")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#login-error")).to_have_text("The operator token is not valid")
        expect(page.locator("#console")).to_be_hidden()

        page.get_by_label("Operator token").fill(TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#console")).to_be_visible()
        expect(page.locator("#pool-rows tr")).to_have_count(3)
        # every pool's workers are connected to its queue, idle ones included
        for pool in ("watermark", "merge", "generate"):
            expect(page.locator(f'#pool-rows tr[data-pool="{pool}"] .consumers')).to_have_text(re.compile("^[1-9]"))
        expect(page.locator("#broker-queues")).to_contain_text("dead letters:")
        expect(page.locator("#pools-age")).to_contain_text("Scheduler figures from")

        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#login")).to_be_visible()
        assert page.request.get("/ops/api/pools").status == 401
    finally:
        ctx.close()
    assert not problems, problems


def test_a_failed_task_is_found_by_its_error_code_and_retried(
    console: Any, ops_product: ConsoleProduct, visitor: httpx.Client
) -> None:
    done = submit(visitor, "image_generation", IMAGE)
    wait_for(visitor, done, "completed")
    failed = seed_failed_copy(
        ops_product, done, code="generation_unavailable", message="The generation service did not answer"
    )

    detail = find_task(console, error_code="generation_unavailable")
    expect(detail).to_have_attribute("data-task-id", failed.task_id)
    expect(detail).to_have_attribute("data-status", "failed")
    history = detail.locator("#d-history")
    expect(history).to_contain_text("generation_unavailable: The generation service did not answer")
    expect(history.locator("dt", has_text=re.compile("^Retries$")).locator("+ dd")).to_have_text("3")

    console.get_by_role("button", name="Retry task").click()
    expect(console.locator("#task-notice")).to_have_text("Retry requested")
    expect(detail).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(history.locator("dt", has_text=re.compile("^Retries$")).locator("+ dd")).to_have_text("0")
    # the attempt the retry made, as the scheduler recorded it: dispatched, started by a generation
    # worker, completed
    attempt = detail.locator("#d-attempts tr[data-attempt='5']")
    expect(attempt.locator(".outcome")).to_have_text("completed")
    expect(attempt.locator(".worker")).to_contain_text("generate")
    assert status_of(visitor, failed.task_id) == "completed"  # the owner sees it done too


def test_a_dead_letter_is_listed_with_its_reason_and_replayed(
    console: Any, ops_product: ConsoleProduct, visitor: httpx.Client
) -> None:
    done = submit(visitor, "image_generation", {**IMAGE, "prompt": "a parked job"})
    wait_for(visitor, done, "completed")
    failed = seed_failed_copy(
        ops_product, done, code="job_dead_lettered", message="The task could not be processed (delivery_limit)."
    )
    job = RunJob(
        task_id=failed.task_id, user_id=failed.user_id, attempt=1, task_type=failed.task_type, config=failed.config,
        inputs=[], output_key=attempt_prefix(failed.task_id, 1),
    )  # fmt: skip
    parked = Envelope.wrap(job, correlation_id=failed.task_id)
    death = {"queue": "jobs.generate", "reason": "delivery_limit", "count": 5, "exchange": "mediacraft.jobs"}
    ops_product.park(parked.to_bytes(), {"x-death": [death]})

    console.get_by_role("tab", name="Dead letters").click()
    row = console.locator(f'#dead-rows tr[data-message-id="{parked.message_id}"]')
    expect(row).to_be_visible()
    expect(row.locator(".reason")).to_have_text("delivery_limit")
    expect(row).to_contain_text("jobs.generate")
    expect(row).to_contain_text(failed.task_id)

    row.get_by_role("button", name="Replay").click()
    expect(console.locator("#dead-notice")).to_have_text(
        f"Replayed {parked.message_id} (task retried: {failed.task_id})"
    )
    expect(row).to_have_count(0)

    # the parked job's task runs again, from scratch, and completes
    detail = find_task(console, task_id=failed.task_id)
    expect(detail).to_have_attribute("data-status", "completed", timeout=60_000)


def test_a_quota_changed_in_the_console_is_obeyed_by_the_next_dispatch(
    console: Any, ops_product: ConsoleProduct, visitor: httpx.Client
) -> None:
    console.get_by_role("tab", name="Quotas").click()
    expect(console.locator("#quotas")).to_have_attribute("data-loaded", "true")
    try:
        console.get_by_label("generate").fill("0")  # the generation pool is paused
        console.get_by_role("button", name="Save quotas").click()
        expect(console.locator("#quota-notice")).to_have_text(
            "Saved: the scheduler applies them from its next dispatch"
        )
        expect(console.locator("#quota-in-effect")).to_contain_text('"generate": 0')

        held = submit(visitor, "image_generation", {**IMAGE, "prompt": "held by the pool quota"})
        console.get_by_role("tab", name="Pools").click()
        generate = console.locator('#pool-rows tr[data-pool="generate"]')
        expect(generate.locator(".waiting")).to_have_text("1")
        expect(generate.locator(".reasons")).to_have_text("system_busy: 1")
        assert status_of(visitor, held) == "queued"

        console.get_by_role("tab", name="Quotas").click()
        expect(console.locator("#quotas")).to_have_attribute("data-loaded", "true")
        console.get_by_label("generate").fill("1")
        console.get_by_role("button", name="Save quotas").click()
        expect(console.locator("#quota-notice")).to_have_text(
            "Saved: the scheduler applies them from its next dispatch"
        )
        wait_for(visitor, held, "completed")
        detail = find_task(console, task_id=held)
        expect(detail).to_have_attribute("data-status", "completed")
    finally:
        reset = console.request.put("/ops/api/quotas", data={})  # back to the configured quotas
        assert reset.status == 202


def test_a_waiting_task_moved_to_the_front_starts_first(
    console: Any, ops_product: ConsoleProduct, visitor: httpx.Client
) -> None:
    try:
        paused = console.request.put("/ops/api/quotas", data={"per_pool": {"generate": 0}})
        assert paused.status == 202
        first = submit(visitor, "image_generation", {**IMAGE, "prompt": "first in line"})
        with httpx.Client(base_url=ops_product.url, timeout=10) as other:
            second = submit(other, "image_generation", {**IMAGE, "prompt": "moved to the front"})
            detail = find_task(console, task_id=second)
            expect(detail).to_have_attribute("data-status", "queued")

            console.get_by_role("button", name="Move to front").click()
            expect(console.locator("#task-notice")).to_have_text("Moved to the front of the line")
            # one slot for the pool: the task moved to the front takes it, the first in line waits
            lifted = console.request.put("/ops/api/quotas", data={"per_pool": {"generate": 1}})
            assert lifted.status == 202
            wait_for(other, second, "completed")
            wait_for(visitor, first, "completed")
            started = {
                task_id: client.get(f"/api/tasks/{task_id}/status").json()["data"]["started_at"]
                for client, task_id in ((visitor, first), (other, second))
            }
        assert started[second] < started[first]
    finally:
        assert console.request.put("/ops/api/quotas", data={}).status == 202


def test_a_running_task_is_cancelled_from_the_console(console: Any, visitor: httpx.Client) -> None:
    # a 30 s 1080p video keeps the generation worker busy long enough to be cancelled
    config = {"prompt": "a long sunrise timelapse", "width": 1920, "height": 1080, "duration_seconds": 30, "fps": 30}
    running = submit(visitor, "video_generation", config)
    try:
        wait_for(visitor, running, "processing")
        detail = find_task(console, task_id=running)
        expect(detail).to_have_attribute("data-status", "processing")
        worker = detail.locator("#d-history dt", has_text=re.compile("^Worker$")).locator("+ dd")
        expect(worker).to_contain_text("generate")

        console.get_by_role("button", name="Cancel task").click()
        expect(console.locator("#task-notice")).to_have_text("Cancel requested")
        expect(detail).to_have_attribute("data-status", "cancelled", timeout=30_000)
        attempt = detail.locator("#d-attempts tr[data-attempt='1']")
        expect(attempt.locator(".outcome")).to_have_text("cancelled")
        expect(attempt.locator(".worker")).to_contain_text("generate")
        expect(detail.locator("#d-events")).to_contain_text("cancel_requested")
        expect(console.get_by_role("button", name="Cancel task")).to_be_disabled()
        assert status_of(visitor, running) == "cancelled"
    finally:
        if status_of(visitor, running) not in ("cancelled", "completed", "failed"):
            visitor.post(f"/api/tasks/{running}/cancel")


def test_the_console_page_needs_no_other_origin(ops_product: ConsoleProduct, tmp_path: Path) -> None:
    page = httpx.get(f"{ops_product.url}/ops/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"(src|href)=\"https?://", page.text)
