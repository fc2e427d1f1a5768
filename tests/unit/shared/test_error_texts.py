"""One table of sentences by error code, and the cause of a machine fault read from an exception."""

from __future__ import annotations

import errno
import json
import os
import re
import signal

import pytest

from mediacraft.gateway.webui.assets import ERROR_TEXTS_LINE, STATIC_DIR, AssetBundle, with_error_texts
from mediacraft.shared import error_texts
from mediacraft.shared.errors import RetryableError
from mediacraft.shared.http.envelope import unavailable
from mediacraft.shared.media.errors import (
    DiskFull,
    LocalIOError,
    LocalResourceError,
    OutOfMemory,
    ToolKilled,
    TooManyOpenFiles,
    cause_in_text,
    killed_by,
    local_cause,
)

CAUSES = [DiskFull, LocalIOError, OutOfMemory, TooManyOpenFiles, ToolKilled, LocalResourceError]


def test_every_code_has_a_sentence_in_both_languages() -> None:
    table = error_texts.table()
    assert len(table) >= 30
    for code, texts in table.items():
        assert re.fullmatch(r"[a-z][a-z_]*", code), code
        assert set(texts) == {"en", "zh"}, code
        assert texts["en"].strip() and texts["zh"].strip(), code
        assert not re.search(r"[\u4e00-\u9fff]", texts["en"]), code
        assert re.search(r"[\u4e00-\u9fff]", texts["zh"]), code


@pytest.mark.parametrize("cause", CAUSES, ids=lambda c: c.code)
def test_every_cause_of_a_machine_fault_has_a_sentence(cause: type[LocalResourceError]) -> None:
    assert error_texts.sentence(cause.code) is not None
    assert error_texts.sentence(cause.code, "zh") is not None


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (errno.ENOSPC, DiskFull),
        (errno.EDQUOT, DiskFull),
        (errno.EIO, LocalIOError),
        (errno.ENOMEM, OutOfMemory),
        (errno.EMFILE, TooManyOpenFiles),
        (errno.ENFILE, TooManyOpenFiles),
    ],
)
def test_an_os_error_is_named_by_its_errno_without_its_path(code: int, cause: type[LocalResourceError]) -> None:
    found = local_cause(OSError(code, os.strerror(code), "/srv/scratch/bucket/key"))
    assert type(found) is cause
    assert found is not None and "/srv" not in found.message


def test_a_cause_is_found_behind_a_wrapping_error() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as inner:
            raise RuntimeError("the writer thread stopped") from inner
    except RuntimeError as outer:
        assert type(local_cause(outer)) is DiskFull
    assert type(local_cause(MemoryError())) is OutOfMemory


def test_other_errors_have_no_local_cause() -> None:
    assert local_cause(ValueError("bad frame")) is None
    assert local_cause(FileNotFoundError(errno.ENOENT, "gone")) is None
    assert local_cause(PermissionError(errno.EACCES, "denied")) is None


def test_a_tool_stopped_from_outside_is_told_apart_from_a_crash() -> None:
    assert isinstance(killed_by(-signal.SIGKILL), ToolKilled)
    assert isinstance(killed_by(-signal.SIGTERM), ToolKilled)
    assert killed_by(-signal.SIGSEGV) is None  # a crash on the input: the input's fault
    assert killed_by(-signal.SIGABRT) is None
    assert killed_by(1) is None and killed_by(0) is None


def test_a_tools_error_text_names_the_cause() -> None:
    assert cause_in_text("out.mp4: No space left on device") is DiskFull
    assert cause_in_text("av_malloc: Cannot allocate memory") is OutOfMemory
    assert cause_in_text("Invalid data found when processing input") is None


def test_the_envelope_of_an_outage_reads_the_tables_sentence() -> None:
    answer = unavailable(RetryableError("HTTPConnectionPool(host='minio', port=9000)", code="storage_unavailable"))
    assert answer.message == error_texts.sentence("storage_unavailable")


def test_the_web_ui_receives_the_whole_table_in_its_translations() -> None:
    source = (STATIC_DIR / "i18n.js").read_bytes()
    assert ERROR_TEXTS_LINE.encode() in source
    assert b'"err.' not in source  # no sentence of the table is written twice
    served = AssetBundle.load().files["i18n.js"].body.decode()
    line = next(row for row in served.splitlines() if row.startswith("const ERROR_TEXTS = "))
    assert json.loads(line.removeprefix("const ERROR_TEXTS = ").removesuffix(";")) == error_texts.table()


def test_a_translations_file_without_the_tables_line_is_refused() -> None:
    with pytest.raises(ValueError, match="ERROR_TEXTS"):
        with_error_texts(b"const WORDS = {};")
