"""One table of sentences by error code, and the cause of a machine fault read from an exception."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
from pathlib import Path

import pytest

from mediacraft.gateway.webui.assets import ERROR_TEXTS_LINE, STATIC_DIR, AssetBundle, with_error_texts
from mediacraft.scheduler.leases import TIMED_OUT, WORKER_LOST, WORKER_NOT_STARTED
from mediacraft.shared import error_texts
from mediacraft.shared.admission import QUEUED_MESSAGE, SYSTEM_BUSY_MESSAGE, TOO_MANY_WAITING, USER_BUSY_MESSAGE
from mediacraft.shared.errors import RetryableError
from mediacraft.shared.http.envelope import STATUS_OF_CODE, unavailable
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


# Where stable codes are written: an error class's `code = "..."`, a `code="..."` argument, an
# ApiError's first argument, and the web UI's `err.<code>` keys.
_CODE_SITES = (
    re.compile(r"\bcode\s*[:=]\s*(?:str\s*=\s*)?\"([a-z][a-z_]+)\""),
    re.compile(r"\bApiError\(\s*\"([a-z][a-z_]+)\""),
    re.compile(r"\berror_code\s*=\s*\"([a-z][a-z_]+)\""),
    re.compile(r"[\"'`]err\.([a-z][a-z_]+)[\"'`]"),
)
_REPO = Path(__file__).resolve().parents[3]


def _codes_in_the_code_base() -> dict[str, str]:
    found: dict[str, str] = {}
    sources = [*(_REPO / "shared" / "src").rglob("*.py"), *(_REPO / "services").glob("*/src/**/*.py")]
    sources += list((STATIC_DIR).glob("*.js"))
    for path in sources:
        body = path.read_text(encoding="utf-8")
        for pattern in _CODE_SITES:
            for m in pattern.finditer(body):
                found.setdefault(m.group(1), str(path.relative_to(_REPO)))
    for code in STATUS_OF_CODE:
        found.setdefault(code, "mediacraft/shared/http/envelope.py")
    for code in (TOO_MANY_WAITING, WORKER_LOST, WORKER_NOT_STARTED, TIMED_OUT):
        found.setdefault(code, "constants")
    return found


def test_every_code_used_in_the_code_base_has_an_english_and_a_chinese_sentence() -> None:
    codes = _codes_in_the_code_base()
    assert {"unsupported_format", "generation_backend_unavailable", "invalid_prompt", "network"} <= set(codes)
    table = error_texts.table()
    lacking = {
        code: where
        for code, where in sorted(codes.items())
        if not (table.get(code, {}).get("en", "").strip() and table.get(code, {}).get("zh", "").strip())
    }
    assert lacking == {}, f"codes without an English and a Chinese sentence in error_texts.json: {lacking}"


def test_the_services_waiting_sentences_are_the_tables() -> None:
    assert error_texts.text("user_busy") == USER_BUSY_MESSAGE
    assert error_texts.text("system_busy") == SYSTEM_BUSY_MESSAGE
    assert error_texts.text("queued") == QUEUED_MESSAGE
    assert error_texts.code_of_sentence(QUEUED_MESSAGE) == "queued"
    assert error_texts.code_of_sentence("No such sentence") is None


def test_a_sentences_placeholders_are_the_same_in_both_languages() -> None:
    for code, texts in error_texts.table().items():
        names = [set(re.findall(r"\{(\w+)\}", texts[lang])) for lang in error_texts.LANGS]
        assert names[0] == names[1], code


@pytest.mark.parametrize(
    ("choices", "expected"),
    [
        ((None,), "en"),
        (("",), "en"),
        (("zh-CN,zh;q=0.9,en;q=0.8",), "zh"),
        (("en-US,en;q=0.9,zh-CN;q=0.8",), "en"),
        (("fr-FR,fr;q=0.9,zh-TW;q=0.5,en;q=0.4",), "zh"),
        (("de, en;q=0.1, zh;q=0.2",), "zh"),
        (("zh;q=0, en",), "en"),
        (("fr",), "en"),
        (("*",), "en"),
        (("zh", "en-US"), "zh"),
        (("fr", "zh-CN"), "zh"),  # a choice naming no language we speak falls to the next
        (("garbage;;q=x,zh;q=oops",), "en"),
    ],
)
def test_the_answer_language_follows_the_choice_then_accept_language(
    choices: tuple[str | None, ...], expected: str
) -> None:
    assert error_texts.pick_lang(*choices) == expected


def test_an_error_reads_the_site_sentence_in_english_and_the_tables_in_chinese() -> None:
    given = "The file is not a supported video (MP4, MOV, MKV, WebM) or image (JPEG, PNG, WebP)"
    assert error_texts.localized("unsupported_format", "en", given) == given
    assert error_texts.localized("unsupported_format", "zh", given) == error_texts.sentence("unsupported_format", "zh")
    assert error_texts.localized("no_such_code", "zh", given) == given
