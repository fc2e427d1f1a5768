"""The CLI's parts without the product: stream parsing, the status line, the upload body, cookies,
file names, the identity file, argument checks, and `watch` against a stand-in server."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mediacraft.cli import watch
from mediacraft.cli.api import AsyncApi
from mediacraft.cli.context import normalize_server
from mediacraft.cli.download import filename_from_disposition, part_path, safe_filename
from mediacraft.cli.errors import CliError, UsageError
from mediacraft.cli.events import SseEvent, SseParser
from mediacraft.cli.identity import IdentityFile
from mediacraft.cli.main import main
from mediacraft.cli.multipart import MultipartBody
from mediacraft.cli.progress import StatusLine, change_key, task_line
from mediacraft.cli.session import Session, parse_set_cookie
from mediacraft.cli.watch import exit_code_for, merge_event


def test_sse_parser_joins_data_lines_and_keeps_the_last_id() -> None:
    parser = SseParser()
    lines = ["retry: 3000", "", ": ping", "id: 17", "event: progress", 'data: {"a":', "data: 1}", ""]
    events = [e for e in map(parser.feed, lines) if e is not None]
    assert events == [SseEvent("progress", '{"a":\n1}', "17")]
    assert parser.retry_ms == 3000 and parser.last_event_id == "17"


def test_status_line_shows_what_a_waiting_person_wants_to_know() -> None:
    queued = {"status": "queued", "queue_position": 3, "message": "Waiting for your current task to finish"}
    assert task_line(queued) == "queued | position 3 in line | Waiting for your current task to finish"
    running = {"status": "processing", "progress": 42.4, "stage": "inpaint", "eta_seconds": 75}
    assert task_line(running, since_update=10) == "[########............]  42% processing | inpaint | ETA 1:05"
    now = datetime(2030, 1, 1, tzinfo=UTC)
    retrying = {
        "status": "retrying",
        "retry_count": 1,
        "max_retries": 3,
        "next_retry_at": (now + timedelta(seconds=45)).isoformat().replace("+00:00", "Z"),
        "error": {"code": "backend_down", "message": "The generation backend is unavailable"},
    }
    assert task_line(retrying, server_now=now) == (
        "retrying (retry 1 of 3) | next attempt in 0:45 | The generation backend is unavailable"
    )
    assert task_line({"status": "cancelled", "message": "Cancelled"}) == "cancelled"


def test_a_log_gets_a_new_line_for_a_change_but_not_for_a_countdown(tmp_path: Path) -> None:
    running = {"status": "processing", "progress": 10.2, "stage": "inpaint", "eta_seconds": 30}
    assert change_key(running) == change_key({**running, "eta_seconds": 29, "progress": 10.9})
    out = (tmp_path / "log.txt").open("w+")
    line = StatusLine(out, tty=False)
    for view in (running, {**running, "eta_seconds": 20}, {**running, "progress": 11.0}):
        line.show(task_line(view), key=change_key(view))
    out.seek(0)
    assert len(out.read().splitlines()) == 2


def test_upload_body_declares_its_exact_length_and_reports_progress(tmp_path: Path) -> None:
    clip = tmp_path / 'my "clip"\r\n.mp4'
    clip.write_bytes(b"x" * 3_000_000)
    seen: list[tuple[int, int]] = []
    body = MultipartBody(
        [("task_type", "watermark_removal"), ("config", "{}")],
        [("file", clip)],
        on_progress=lambda done, total: seen.append((done, total)),
    )
    data = b"".join(body)
    assert len(data) == body.length
    assert b'filename="my \\"clip\\"  .mp4"' in data  # quotes escaped; CR/LF cannot end the header
    assert seen[-1] == (3_000_000, 3_000_000) and len(seen) == 3  # one report per MiB chunk


def test_set_cookie_parsing() -> None:
    assert parse_set_cookie("mc_uid=abc.def; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax") == (
        "mc_uid",
        "abc.def",
        False,
    )
    assert parse_set_cookie("mc_uid=; Max-Age=0") == ("mc_uid", "", True)
    assert parse_set_cookie("garbage") is None


def test_download_names_come_from_the_server_but_stay_in_the_directory() -> None:
    header = "attachment; filename=\"cafe.mp4\"; filename*=UTF-8''caf%C3%A9%20clean.mp4"
    assert filename_from_disposition(header) == "café clean.mp4"
    assert filename_from_disposition('attachment; filename="a\\"b.mp4"') == 'a"b.mp4'
    assert safe_filename("../../etc/passwd", "x") == "passwd"
    assert safe_filename("..\\.hidden\x07", "x") == "hidden"
    assert safe_filename("", "fallback.bin") == "fallback.bin"
    assert part_path(Path("out/clip.mp4"), "0123456789-abc") == Path("out/clip.mp4.01234567.part")


def test_identity_file_keeps_a_private_jar_per_server(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "identity.json"
    identity = IdentityFile(path)
    identity.save("http://a:1", {"mc_uid": "one"})
    identity.save("http://b:2", {"mc_uid": "two"})
    assert IdentityFile(path).load("http://a:1") == {"mc_uid": "one"}
    assert IdentityFile(path).load("http://b:2") == {"mc_uid": "two"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)  # copied in carelessly: made private again on the next read
    IdentityFile(path).load("http://a:1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_identity_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "identity.json"
    path.write_text("{not json")
    with pytest.raises(CliError, match="move it away"):
        IdentityFile(path).save("http://a:1", {"mc_uid": "new"})
    assert path.read_text() == "{not json"


def test_server_urls_are_normalised() -> None:
    assert normalize_server("127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert normalize_server("https://Media.Example.org/mc/") == "https://media.example.org/mc"
    with pytest.raises(UsageError):
        normalize_server("ftp://example.org")


@pytest.mark.parametrize(
    "argv",
    [
        ["watermark", "clip.mp4", "--region", "1,2,3"],
        ["watermark", "clip.mp4", "--auto", "--region", "1,2,3,4"],
        ["watermark", "clip.mp4", "--method", "bogus"],
        ["merge", "only-one.mp4"],
        ["generate", "image", "--prompt", "x", "--duration", "3"],
        ["generate", "video", "--prompt", "x", "--count", "2"],
    ],
)
def test_bad_arguments_exit_2_before_anything_is_sent(argv: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--server", "http://127.0.0.1:9", "--identity", str(tmp_path / "id.json"), *argv])
    assert stopped.value.code == 2
    assert not (tmp_path / "id.json").exists()


def test_a_missing_file_is_refused_before_the_server_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--server", "http://127.0.0.1:9", "--identity", str(tmp_path / "id.json")]
    assert main([*argv, "watermark", str(tmp_path / "nope.mp4"), "--region", "1,2,3,4"]) == 2
    assert "nope.mp4: no such file" in capsys.readouterr().err
    assert not (tmp_path / "id.json").exists()


def test_an_unreachable_server_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--server", "http://127.0.0.1:9", "--identity", str(tmp_path / "id.json")]
    assert main([*argv, "--json", "list"]) == 5
    captured = capsys.readouterr()
    assert "Cannot reach the MediaCraft server at http://127.0.0.1:9" in captured.err
    assert json.loads(captured.out)["success"] is False


def test_live_events_update_only_their_task_and_never_go_back() -> None:
    view = {"task_id": "t", "status": "processing", "version": 4, "progress": 30.0}
    progress = SseEvent("progress", '{"task_id": "t", "version": 4, "progress": 55.0, "eta_seconds": 8}', "1")
    assert merge_event(view, "t", progress) == {**view, "progress": 55.0, "eta_seconds": 8}
    other = SseEvent("progress", '{"task_id": "u", "version": 9, "progress": 99}', "2")
    assert merge_event(view, "t", other) is view
    stale = SseEvent("status", '{"task_id": "t", "version": 3, "task": {"status": "queued"}}', "3")
    assert merge_event(view, "t", stale) is view
    done = SseEvent("status", '{"task_id": "t", "version": 5, "task": {"status": "completed", "version": 5}}', "4")
    assert merge_event(view, "t", done) == {"status": "completed", "version": 5}
    assert [exit_code_for({"status": s}) for s in ("completed", "failed", "cancelled", "expired")] == [0, 3, 4, 4]


def envelope(data: object, status: int = 200, error_code: str | None = None) -> httpx.Response:
    ok = status < 400
    doc = {
        "success": ok,
        "code": status,
        "message": "Success" if ok else "Refused",
        "error_code": error_code,
        "data": data,
        "meta": {"timestamp": "2030-01-01T00:00:00Z", "version": "v1", "request_id": "r"},
    }
    return httpx.Response(status, json=doc)


def stand_in_api(handler: Callable[[httpx.Request], httpx.Response]) -> AsyncApi:
    """The async client with the server replaced by `handler` (the server is outside the CLI)."""
    api = AsyncApi("http://server.test", Session("http://server.test", IdentityFile(Path("/nonexistent/id.json"))))
    api.http = httpx.AsyncClient(base_url="http://server.test", transport=httpx.MockTransport(handler))
    return api


async def test_watch_polls_status_when_the_server_has_no_event_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "POLL_SECONDS", 0.01)
    answers = iter(
        [
            {"status": "processing", "version": 2, "progress": 40.0},
            {"status": "processing", "version": 2, "progress": 80.0},
            {"status": "completed", "version": 3, "progress": 100.0},
        ]
    )
    asked: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/api/events":
            return envelope(None, 404, "not_found")
        return envelope({"task_id": "t", **next(answers)})

    final = await watch.watch_task(stand_in_api(server), "t", StatusLine(io.StringIO(), tty=False))
    assert final["status"] == "completed"
    assert asked.count("/api/tasks/t/status") == 3 and asked.count("/api/events") == 1


async def test_a_dropped_event_stream_resumes_with_last_event_id() -> None:
    streams = iter(
        [
            b"retry: 10\n\nid: 100\nevent: ready\ndata: {}\n\n",  # then the connection ends
            b"id: 200\nevent: ready\ndata: {}\n\n"
            b'id: 201\nevent: status\ndata: {"task_id": "t", "version": 3, '
            b'"task": {"status": "completed", "version": 3}}\n\n',
        ]
    )
    resumed_from: list[str | None] = []

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/events":
            resumed_from.append(request.headers.get("last-event-id"))
            return httpx.Response(200, content=next(streams), headers={"content-type": "text/event-stream"})
        return envelope({"task_id": "t", "status": "queued", "version": 1})

    final = await watch.watch_task(stand_in_api(server), "t", StatusLine(io.StringIO(), tty=False))
    assert final == {"status": "completed", "version": 3}
    assert resumed_from == [None, "100"]
