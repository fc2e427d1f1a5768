"""The `mediacraft` command as a user runs it, against the real single-process product over HTTP."""

from __future__ import annotations

import json
import os
import pty
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.cli.conftest import CLI_TIMEOUT, WM_BOX, Clips, CliUser, FinishedWork, new_user
from tests.fixtures.media import probe
from tests.fixtures.served_product import ServedProduct

# Long enough (1800 full-HD frames) that it is still running when the test cancels it.
BLOCKER = (
    "generate",
    "video",
    "--prompt",
    "a long one",
    "--duration",
    "30",
    "--width",
    "1920",
    "--height",
    "1080",
    "--fps",
    "60",
)


def region_gray(path: Path, box: tuple[int, int, int, int], frame: int = 10) -> np.ndarray:
    """One frame's pixels inside `box`, as grey levels."""
    x, y, w, h = box
    raw = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            f"select=eq(n\\,{frame}),crop={w}:{h}:{x}:{y}",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(h, w).astype(np.float32)


def video_stream(path: Path) -> dict:
    info = probe(path)
    return next(s for s in info["streams"] if s["codec_type"] == "video") | {
        "duration": float(info["format"]["duration"])
    }


@pytest.mark.slow  # its fixture starts the product and runs two jobs
def test_watermark_job_with_wait_completes_and_the_download_is_clean(
    alice: FinishedWork, clips: Clips, tmp_path: Path
) -> None:
    view = alice.watermark
    assert view["status"] == "completed" and view["task_type"] == "watermark_removal"
    assert "100% completed" in alice.watermark_run.stderr  # the progress lines, one per change
    saved = alice.user.json("download", view["task_id"], "-o", tmp_path / "clean.mp4")
    result = Path(saved["path"])
    assert result == tmp_path / "clean.mp4" and result.stat().st_size == saved["size"] > 0
    stream = video_stream(result)
    assert (stream["width"], stream["height"]) == (640, 360)
    assert stream["duration"] == pytest.approx(2.0, abs=0.2)
    # the logo box is gone: the cleaned region is far closer to the clip without it than the input was
    truth = region_gray(clips.truth, WM_BOX)
    before = np.abs(region_gray(clips.watermarked, WM_BOX) - truth).mean()
    after = np.abs(region_gray(result, WM_BOX) - truth).mean()
    assert after < before / 3, (before, after)


def test_merge_of_two_clips_downloads_one_playable_video(alice: FinishedWork, tmp_path: Path) -> None:
    view = alice.merge
    assert view["status"] == "completed" and view["task_type"] == "video_merge"
    assert [i["original_name"] for i in view["inputs"]] == ["first.mp4", "second.mp4"]
    alice.user.run("download", view["task_id"], "-o", tmp_path)  # into a directory: the server's name
    (result,) = [p for p in tmp_path.iterdir() if p.suffix == ".mp4"]
    assert result.name.startswith("first") and video_stream(result)["duration"] == pytest.approx(2.0, abs=0.25)


def test_list_in_a_later_run_shows_both_tasks_and_the_identity_file_is_private(alice: FinishedWork) -> None:
    listed = alice.user.json("list")
    ids = [t["task_id"] for t in listed["tasks"]]
    assert ids == [alice.merge["task_id"], alice.watermark["task_id"]]  # newest first
    assert listed["counts"] == {"completed": 2}
    table = alice.user.run("list").stdout
    assert alice.merge["task_id"] in table and "merge" in table and "logo.mp4" in table
    assert stat.S_IMODE(alice.user.identity.stat().st_mode) == 0o600
    assert stat.S_IMODE(alice.user.identity.parent.stat().st_mode) == 0o700
    assert not [p for p in alice.user.identity.parent.iterdir() if p.name.endswith(".tmp")]


def test_another_identity_file_sees_none_of_it(alice: FinishedWork, product: ServedProduct, tmp_path: Path) -> None:
    stranger = new_user(product, tmp_path)
    assert stranger.json("list")["tasks"] == []
    denied = stranger.run("status", alice.watermark["task_id"])
    assert denied.returncode == 1
    assert "Task not found [not_found]" in denied.stderr
    assert stranger.json("info")["user_id"] != alice.user.json("info")["user_id"]


def test_download_resumes_a_partial_file_with_range(alice: FinishedWork, tmp_path: Path) -> None:
    task_id = alice.merge["task_id"]
    whole = Path(alice.user.json("download", task_id, "-o", tmp_path / "whole.mp4")["path"]).read_bytes()
    target = tmp_path / "resumed.mp4"
    half = len(whole) // 2
    # what an interrupted download leaves behind: the head of the file under the partial name
    (tmp_path / f"resumed.mp4.{task_id[:8]}.part").write_bytes(whole[:half])
    saved = alice.user.json("download", task_id, "-o", target)
    assert saved["resumed_from"] == half and saved["size"] == len(whole)
    assert target.read_bytes() == whole
    assert not list(tmp_path.glob("*.part"))
    again = alice.user.json("download", task_id, "-o", target)
    assert again["already_complete"] is True


def test_region_outside_the_frame_prints_the_servers_message(user: CliUser, clips: Clips) -> None:
    refused = user.run("watermark", clips.watermarked, "--region", "5000,5000,10,10", "--wait")
    assert refused.returncode == 1
    assert "Region [5000, 5000, 10, 10] is outside the 640x360 frame [invalid_regions]" in refused.stderr
    as_json = user.json("watermark", clips.watermarked, "--region", "5000,5000,10,10", expect=1)
    assert (as_json["code"], as_json["error_code"]) == (422, "invalid_regions")
    assert as_json["data"]["frame"] == {"width": 640, "height": 360}
    assert user.json("list")["tasks"] == []  # a refused submit leaves nothing behind


@pytest.mark.slow
def test_cancel_a_waiting_task_then_retry_it(user: CliUser, clips: Clips) -> None:
    blocker = user.json(*BLOCKER)
    waiting = user.json("watermark", clips.watermarked, "--region", ",".join(map(str, WM_BOX)))
    # one running task per user: the second waits for the first
    assert user.json("status", waiting["task_id"])["status"] == "queued"

    cancelled = user.json("cancel", waiting["task_id"], "--wait")
    assert cancelled["status"] == "cancelled"
    stopped = user.run("cancel", blocker["task_id"], "--wait")  # a running one: its worker stops it
    assert stopped.returncode == 0, stopped.stderr
    watched = user.run("watch", blocker["task_id"])
    assert watched.returncode == 4 and f"error: task {blocker['task_id']} was cancelled" in watched.stderr

    again = user.json("retry", waiting["task_id"], "--wait")
    assert again["status"] == "completed" and again["task_id"] == waiting["task_id"]
    assert again["version"] > cancelled["version"]


def test_watch_by_polling_follows_a_task_to_completion(user: CliUser) -> None:
    task = user.json("generate", "image", "--prompt", "a lighthouse", "--width", "256", "--height", "256")
    watched = user.run("watch", task["task_id"], "--poll")
    assert watched.returncode == 0, watched.stderr
    assert f"Task {task['task_id']} completed" in watched.stdout


def test_progress_bar_redraws_one_line_on_a_terminal(user: CliUser) -> None:
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            user.command(
                "generate",
                "video",
                "--prompt",
                "waves",
                "--duration",
                "3",
                "--width",
                "320",
                "--height",
                "240",
                "--wait",
            ),
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=60,
            cwd=user.workdir,
            env=user.env(),
        )
        os.close(terminal)
        terminal = -1
        shown = _drain(controller)
    finally:
        if terminal != -1:
            os.close(terminal)
        os.close(controller)
    assert done.returncode == 0
    assert "\r[####################] 100% completed" in shown  # redrawn in place, not printed per change
    assert "% processing" in shown and "completed in" in done.stdout


def _drain(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_first_runs_started_together_share_one_identity(product: ServedProduct, tmp_path: Path) -> None:
    shared = new_user(product, tmp_path)
    runs = [
        subprocess.Popen(shared.command("--json", "info"), stdout=subprocess.PIPE, text=True, env=shared.env())
        for _ in range(3)
    ]
    users = {json.loads(p.communicate(timeout=CLI_TIMEOUT)[0])["user_id"] for p in runs}
    assert len(users) == 1


def test_console_script_is_installed() -> None:
    script = shutil.which("mediacraft", path=str(Path(sys.executable).parent))
    assert script is not None, "install clients/cli (pip install -e clients/cli)"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.startswith("mediacraft ")


def test_auto_or_no_region_submits_with_the_regions_left_to_detection(user: CliUser, clips: Clips) -> None:
    blocker = user.json(*BLOCKER)  # keeps the two below waiting: only what was submitted is looked at
    auto = user.json("watermark", clips.watermarked, "--auto")
    bare = user.json("watermark", clips.watermarked, "--method", "speed")
    assert user.json("status", auto["task_id"])["config"] == {"method": "auto"}
    assert user.json("status", bare["task_id"])["config"] == {"method": "delogo"}
    both = user.run("watermark", clips.watermarked, "--auto", "--region", "1,1,5,5")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    for task in (auto, bare, blocker):
        assert user.run("cancel", task["task_id"], "--wait").returncode == 0
