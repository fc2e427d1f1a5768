"""The safe probe on real files: accepted formats, refusals, and whitelists as a second line."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.media import (
    MP4,
    InvalidMedia,
    MediaLimits,
    UnsupportedFormat,
    probe_media,
    read_ffprobe,
)
from mediacraft.shared.media.sniff import MATROSKA
from tests.integration.media.conftest import ClipLibrary, Listener, Tripwire


def test_mp4_is_probed_into_media_info(clips: ClipLibrary) -> None:
    result = probe_media(clips.get("720p30.mp4", width=1280, height=720, fps=30, duration=1.0))
    media = result.media
    assert (media.format_name, media.width, media.height) == ("mp4", 1280, 720)
    assert (media.frame_rate, media.frame_count) == (30.0, 30)
    assert media.duration == pytest.approx(1.0, abs=0.05)
    assert (media.video_codec, media.audio_codec, media.has_audio) == ("h264", "aac", True)
    assert result.main_video is not None and (result.main_video.extradata_hash or "").startswith("SHA256:")


def test_matroska_and_webm_are_probed(clips: ClipLibrary) -> None:
    mkv = probe_media(clips.get("clip.mkv", duration=1.0))
    webm = probe_media(
        clips.get(
            "clip.webm",
            duration=1.0,
            vcodec="libvpx-vp9",
            acodec="libopus",
            extra_args=["-deadline", "realtime", "-cpu-used", "8"],
        )
    )
    assert mkv.container is MATROSKA and webm.container is MATROSKA
    assert (webm.media.video_codec, webm.media.audio_codec) == ("vp9", "opus")
    assert mkv.media.frame_count in (30, 31)  # estimated from duration x rate: Matroska stores no count


def test_images_are_probed_when_images_are_expected(clips: ClipLibrary) -> None:
    png = clips.render("still.png", ["-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"])
    jpeg = clips.render("still.jpg", ["-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"])
    for path, name in ((png, "png"), (jpeg, "jpeg")):
        media = probe_media(path, expect="image").media
        assert (media.format_name, media.width, media.height) == (name, 320, 240)
    with pytest.raises(UnsupportedFormat):
        probe_media(png, expect="video")


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (MediaLimits(max_file_size=1000), "file_too_large"),
        (MediaLimits(max_streams=1), "too_many_streams"),
        (MediaLimits(max_width=320), "media_too_large"),
        (MediaLimits(max_duration=0.5), "media_too_long"),
    ],
)
def test_limits_refuse_real_files(clips: ClipLibrary, limits: MediaLimits, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        probe_media(clips.get("360p.mp4", duration=1.0), limits)
    assert caught.value.code == code


def test_a_tiny_file_declaring_8k_is_refused_from_its_headers(clips: ClipLibrary) -> None:
    path = clips.render(
        "8k.mp4",
        [
            "-f",
            "lavfi",
            "-i",
            "color=c=black:size=7680x4320:rate=1:duration=1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    )
    assert path.stat().st_size < 100_000
    started = time.monotonic()
    with pytest.raises(InvalidInput) as caught:
        probe_media(path)
    assert caught.value.code == "media_too_large"
    assert time.monotonic() - started < 5.0


def test_ffprobe_alone_refuses_a_playlist_without_connecting(tmp_path: Path, listener: Listener) -> None:
    """Even if the sniffing step were skipped, the forced demuxer and whitelists keep ffprobe local."""
    playlist = tmp_path / "clip.mp4"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{listener.url}\n#EXT-X-ENDLIST\n")
    with pytest.raises(InvalidMedia):
        read_ffprobe(playlist, MP4)
    assert listener.connections() == 0


def test_ffprobe_alone_refuses_a_concat_list_without_reading_outside(
    tmp_path: Path,
    outside_tripwire: Tripwire,
) -> None:
    listing = tmp_path / "clip.mkv"
    listing.write_text(f"ffconcat version 1.0\nfile '{outside_tripwire.path}'\n")
    for container in (MP4, MATROSKA):
        with pytest.raises(InvalidMedia):
            read_ffprobe(listing, container)
    assert not outside_tripwire.opened_by_other()


def test_the_tripwires_do_fire(tmp_path: Path, listener: Listener, outside_tripwire: Tripwire) -> None:
    """Guard for the two tests above: a permissively configured ffprobe does connect and does read."""
    playlist = tmp_path / "p.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{listener.url}\n#EXT-X-ENDLIST\n")
    subprocess.run(
        ["ffprobe", "-v", "quiet", "-protocol_whitelist", "file,http,tcp", "-rw_timeout", "500000", str(playlist)],
        timeout=30,
    )
    assert listener.connections() >= 1
    listing = tmp_path / "l.ffconcat"
    listing.write_text(f"ffconcat version 1.0\nfile '{outside_tripwire.path}'\n")
    proc = subprocess.Popen(["ffprobe", "-v", "quiet", "-safe", "0", str(listing)])
    assert outside_tripwire.opened.wait(timeout=10)
    assert outside_tripwire.opened_by_other()
    proc.wait(timeout=30)


_PEAK_CHILD_RSS = """
import resource, sys
from pathlib import Path
from mediacraft.shared.media import MediaLimits, probe_media
try:
    probe_media(Path(sys.argv[1]), MediaLimits(probe_memory=int(sys.argv[2])))
    print("accepted")
except Exception as exc:
    print(getattr(exc, "code", type(exc).__name__))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
"""


def probe_in_fresh_process(path: Path, probe_memory: int) -> tuple[str, int]:
    """Probe in a new interpreter so that ffprobe is its only child; return (outcome, peak MiB)."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD_RSS, str(path), str(probe_memory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    return out[0], int(out[1])


def declare_many_frames(source: Path, target: Path, frames: int) -> Path:
    """Patch the first track's sample tables to declare `frames` samples of a constant size."""
    data = bytearray(source.read_bytes())
    stsz, stts = data.find(b"stsz") - 4, data.find(b"stts") - 4
    struct.pack_into(">II", data, stsz + 12, 100, frames)  # sample_size, sample_count
    struct.pack_into(">I", data, stts + 16, frames)  # first entry's sample count
    target.write_bytes(data)
    return target


@pytest.mark.slow
def test_a_header_declaring_millions_of_frames_cannot_make_ffprobe_balloon(clips: ClipLibrary, tmp_path: Path) -> None:
    bomb = declare_many_frames(clips.get("1s.mp4", duration=1.0), tmp_path / "bomb.mp4", 80_000_000)
    assert bomb.stat().st_size < 200_000
    outcome, peak_mib = probe_in_fresh_process(bomb, MediaLimits().probe_memory)
    assert outcome == "invalid_media"
    assert peak_mib < 200
    # The same file without the heap cap: what the cap prevents.
    _, uncapped_mib = probe_in_fresh_process(bomb, 16 * 1024**3)
    assert uncapped_mib > 400
