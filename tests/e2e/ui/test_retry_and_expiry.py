"""What the visitor sees when things go wrong or get old: with the generation service unreachable a
task shows 重试中 with its retry count and the time of the next try, then 失败 with a plain message,
and can be retried; a result past its retention shows 已过期. The product runs as its own process
here, with a generation service that is down and a retention of seconds."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacraft.shared.error_texts import sentence
from tests.e2e.ui.conftest import DESKTOP, watch_for_page_errors
from tests.e2e.ui.helpers import expect, task_card
from tests.fixtures.served_product import free_port
from tests.fixtures.waiting import poll

REPO = Path(__file__).resolve().parents[3]
RETRY_DELAY_MS = 4000  # one retry step: long enough to watch the wait, short enough for a test
RETENTION_SECONDS = 3
STOP_TIMEOUT = 30


@pytest.fixture(scope="module")
def product_in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The product in a child process: its generation service is a port nobody listens on, and
    results are kept for seconds."""
    port = free_port()
    env = {
        **os.environ,
        "MEDIACRAFT_DATA_DIR": str(tmp_path_factory.mktemp("ui-no-backend")),
        "MEDIACRAFT_HTTP_PORT": str(port),
        "MEDIACRAFT_GENERATE_PROVIDER": "http",
        "MEDIACRAFT_GENERATE_HTTP_ENDPOINT": f"http://127.0.0.1:{free_port()}/generate",
        "MEDIACRAFT_GENERATE_HTTP_CONNECT_TIMEOUT_SECONDS": "2",
        "MEDIACRAFT_RETRY_DELAYS_MS": str(RETRY_DELAY_MS),
        "MEDIACRAFT_RETENTION_COMPLETED": str(RETENTION_SECONDS),
        "MEDIACRAFT_CLEANUP_INTERVAL": "1",
        "MEDIACRAFT_CLEANUP_METRICS_PORT": "0",
        "MEDIACRAFT_DRAIN_SECONDS": "2",
        "MEDIACRAFT_LOG_LEVEL": "WARNING",
    }
    child = subprocess.Popen([sys.executable, "-m", "tests.e2e.ui.launch"], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=2) as client:

            def ready() -> bool:
                assert child.poll() is None, f"the product exited with {child.returncode}"
                try:
                    return client.get("/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            poll(ready, timeout=60, what="the product to be ready")
        yield url
    finally:
        child.send_signal(signal.SIGINT)  # drains and stops like Ctrl-C
        try:
            child.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.mark.slow
def test_a_task_retries_while_the_backend_is_down_then_fails_with_a_plain_message(
    browser: Any, product_in_process: str, tmp_path: Path
) -> None:
    ctx = browser.new_context(base_url=product_in_process, viewport=DESKTOP, locale="zh-CN")
    problems = watch_for_page_errors(ctx)
    try:
        page = ctx.new_page()
        page.goto("/")
        expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
        page.get_by_role("tab", name="生成").click()
        page.get_by_label("提示词", exact=True).fill("a picture nobody can draw today")
        page.get_by_role("button", name="生成", exact=True).click()

        card = task_card(page, "a picture nobody can draw today")
        expect(card).to_have_attribute("data-status", "retrying")
        expect(card.locator(".task-status")).to_have_text("重试中")
        expect(card.locator(".task-retry-count")).to_have_text("重试次数 1 / 1")
        expect(card.locator(".task-next-retry")).to_have_text(re.compile(r"^下次重试 .*\d\d:\d\d:\d\d（\d+ 秒后）$"))
        # the server's words in the page's language, never the backend's English
        expect(card.locator(".task-error")).to_have_text(sentence("generation_backend_unavailable", "zh") or "")
        page.screenshot(path=str(tmp_path / "retrying.png"), full_page=True)

        # the countdown moves with the clock, not only with events
        before = card.locator(".task-next-retry").inner_text()
        expect(card.locator(".task-next-retry")).not_to_have_text(before)

        started = time.monotonic()
        expect(card).to_have_attribute("data-status", "failed", timeout=30_000)
        assert time.monotonic() - started < RETRY_DELAY_MS / 1000 + 15
        expect(card.locator(".task-status")).to_have_text("失败")
        expect(card.locator(".task-error")).to_be_visible()
        expect(card.locator(".task-error")).to_have_text("无法连接生成服务。已重试 1 次，仍未成功。")
        expect(card.locator(".task-retry")).to_be_hidden()
        page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)

        # in English the same card says it in English (the list is read again in the new language)
        page.get_by_role("button", name="English").click()
        expect(card.locator(".task-error")).to_have_text(
            "The generation service could not be reached. Gave up after 1 retry."
        )
        page.get_by_role("button", name="中文").click()
        expect(card.locator(".task-error")).to_have_text("无法连接生成服务。已重试 1 次，仍未成功。")

        # Retry starts a fresh series with the same parameters
        card.get_by_role("button", name=re.compile("^重试")).click()
        expect(card).to_have_attribute("data-status", re.compile("^(queued|processing|retrying)$"))
    finally:
        ctx.close()
    assert not problems, problems


@pytest.mark.slow
def test_a_result_past_its_retention_says_it_expired(
    browser: Any, product_in_process: str, clips: dict[str, Path], tmp_path: Path
) -> None:
    ctx = browser.new_context(base_url=product_in_process, viewport=DESKTOP, locale="zh-CN")
    problems = watch_for_page_errors(ctx)
    try:
        page = ctx.new_page()
        page.goto("/")
        expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
        page.set_input_files("#wm-file", str(clips["first"]))
        expect(page.locator("#wm-frame-wrap")).to_have_attribute("data-state", "ready")
        # the region by numbers: the way in without a mouse
        page.get_by_text("用数字添加区域").click()
        page.get_by_label("x", exact=True).fill("10")
        page.get_by_label("y", exact=True).fill("10")
        page.get_by_label("宽").fill("60")
        page.get_by_label("高").fill("30")
        page.get_by_role("button", name="添加", exact=True).click()
        expect(page.locator("#wm-regions li")).to_have_text([re.compile("区域 1：x 10，y 10，60 × 30 像素")])
        page.get_by_role("button", name="开始去水印").click()

        card = task_card(page, "first.mp4")
        expect(card).to_have_attribute("data-status", "completed", timeout=30_000)
        expect(card.get_by_role("link", name=re.compile("^下载"))).to_be_visible()
        # the cleanup deletes the file and the card says so, live
        expect(card).to_have_attribute("data-status", "expired", timeout=(RETENTION_SECONDS + 15) * 1000)
        expect(card.locator(".task-status")).to_have_text("已过期")
        expect(card.locator(".task-expired")).to_have_text("文件已过期并已删除")
        expect(card.get_by_role("link", name=re.compile("^下载"))).to_have_count(0)
        page.screenshot(path=str(tmp_path / "expired.png"), full_page=True)
    finally:
        ctx.close()
    assert not problems, problems
