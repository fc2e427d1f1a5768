"""The concat list file the stream-copy merge writes: quoting, and paths confined to the job dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediacraft.worker_merge.merge import format_concat_list, quote_concat_path, write_concat_list


@pytest.mark.parametrize(
    ("path", "quoted"),
    [
        ("/job/a.mp4", "'/job/a.mp4'"),
        ("/job/my clip #1.mp4", "'/job/my clip #1.mp4'"),
        ("/job/it's.mp4", "'/job/it'\\''s.mp4'"),
        ("/job/''.mp4", "'/job/'\\'''\\''.mp4'"),
        ("/job/back\\slash $x.mp4", "'/job/back\\slash $x.mp4'"),
    ],
)
def test_paths_are_single_quoted_with_quotes_escaped(path: str, quoted: str) -> None:
    assert quote_concat_path(path) == quoted


@pytest.mark.parametrize("bad", ["/job/a\nfile /etc/passwd", "/job/a\r.mp4", "/job/a\x00.mp4"])
def test_line_breaks_and_nul_cannot_smuggle_directives(bad: str) -> None:
    with pytest.raises(ValueError):
        quote_concat_path(bad)


def test_list_has_a_header_and_one_file_line_per_input_in_order() -> None:
    text = format_concat_list([Path("/job/b.mp4"), Path("/job/a.mp4")])
    assert text == "ffconcat version 1.0\nfile '/job/b.mp4'\nfile '/job/a.mp4'\n"


def test_relative_paths_are_refused() -> None:
    with pytest.raises(ValueError):
        format_concat_list([Path("a.mp4")])


def test_writing_refuses_paths_outside_the_job_dir(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    (job / "a.mp4").write_bytes(b"x")
    listing = job / "list.ffconcat"
    with pytest.raises(ValueError, match="outside the job directory"):
        write_concat_list([job / "a.mp4", job / ".." / "other.mp4"], listing, root=job)
    assert not listing.exists()
    write_concat_list([job / "a.mp4"], listing, root=job)
    assert listing.read_text() == f"ffconcat version 1.0\nfile '{job.resolve() / 'a.mp4'}'\n"
