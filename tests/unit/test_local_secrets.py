"""The local modes' generated secrets: made once into <data dir>/secrets.env with mode 0600,
reused, never over a value the environment sets, and given to every service the mode starts."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from mediacraft.shared.published_secrets import DEV_COOKIE_KEY, is_published
from mediacraft.standalone import local_secrets
from mediacraft.standalone.local_secrets import (
    COOKIE_KEYS,
    IDENTITY_API_TOKEN,
    SETTINGS,
    secrets_path,
    unset_secrets,
)
from mediacraft.standalone.stack import Stack

generated = local_secrets.local_secrets


@pytest.fixture(autouse=True)
def no_secrets_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_call_writes_a_private_file_and_later_calls_read_it(tmp_path: Path) -> None:
    first = unset_secrets(tmp_path / "data")
    path = secrets_path(tmp_path / "data")
    assert set(first) == set(SETTINGS)
    assert mode_of(path) == 0o600
    assert all(len(v) == 64 and not is_published(v) for v in first.values())
    assert first[COOKIE_KEYS] != first[IDENTITY_API_TOKEN]
    before = path.stat().st_mtime_ns
    assert unset_secrets(tmp_path / "data") == first
    assert path.stat().st_mtime_ns == before, "reading rewrote the file"
    assert not list((tmp_path / "data").glob(".secrets-*")), "a temporary file was left behind"


def test_a_setting_from_the_environment_wins_and_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(COOKIE_KEYS.lower(), "a-key-from-the-operator-0123456789")  # read case-insensitively
    values = unset_secrets(tmp_path)
    assert set(values) == {IDENTITY_API_TOKEN}
    assert COOKIE_KEYS not in secrets_path(tmp_path).read_text()


def test_nothing_is_written_when_the_environment_sets_every_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SETTINGS:
        monkeypatch.setenv(name, f"{name}-from-the-operator")
    assert unset_secrets(tmp_path) == {}
    assert not secrets_path(tmp_path).exists()


def test_a_missing_or_published_value_in_the_file_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    path = secrets_path(tmp_path)
    path.write_text(f"# edited by hand\n{COOKIE_KEYS}={DEV_COOKIE_KEY}\nOTHER=kept\n")
    path.chmod(0o600)
    values = unset_secrets(tmp_path)
    assert values[COOKIE_KEYS] != DEV_COOKIE_KEY and not is_published(values[COOKIE_KEYS])
    assert "OTHER=kept" in path.read_text() and mode_of(path) == 0o600
    assert unset_secrets(tmp_path) == values


def test_a_file_readable_by_others_is_made_private(tmp_path: Path) -> None:
    values = unset_secrets(tmp_path)
    path = secrets_path(tmp_path)
    path.chmod(0o644)
    assert unset_secrets(tmp_path) == values
    assert mode_of(path) == 0o600


def test_two_first_starts_at_once_agree_on_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # both read "no file" before either writes: the second to write must adopt the first's values
    barrier = threading.Barrier(2)
    real_read = local_secrets._read

    def read_then_meet(path: Path) -> tuple[dict[str, str], bool]:
        found, existed = real_read(path)
        if not existed:
            barrier.wait(timeout=10)
        return found, existed

    monkeypatch.setattr(local_secrets, "_read", read_then_meet)
    results: list[dict[str, str]] = []
    threads = [threading.Thread(target=lambda: results.append(generated(tmp_path, SETTINGS))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 2 and results[0] == results[1]
    monkeypatch.setattr(local_secrets, "_read", real_read)
    assert generated(tmp_path, SETTINGS) == results[0]


def test_the_file_is_never_visible_with_a_loose_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = os.umask(0)  # whatever the umask, the file is created 0600
    try:
        unset_secrets(tmp_path)
    finally:
        os.umask(old)
    assert mode_of(secrets_path(tmp_path)) == 0o600


def test_the_local_stack_gives_every_process_the_generated_secrets(tmp_path: Path) -> None:
    stack = Stack(data_dir=tmp_path)
    env = stack.environment()
    kept = generated(tmp_path, SETTINGS)
    for child in stack.plan(env):
        assert {name: child.env[name] for name in SETTINGS} == kept, child.name
