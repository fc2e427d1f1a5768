"""The identity file: the server's cookie kept between invocations, so a later run sees the same tasks.

One JSON file holds a cookie jar per server URL (a cookie signed by one server means nothing to
another), written only through a private temporary file that is renamed over the old one: a
reader never sees half a file, and the file is never readable by others (0600, directory 0700).
A lock file serialises read-modify-write between concurrent invocations, so that two scripts
starting at once on a fresh machine end up with one identity, not two.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediacraft.cli.errors import CliError

try:  # POSIX; elsewhere concurrent first runs may mint two identities, nothing worse
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 1


def default_identity_path() -> Path:
    """$MEDIACRAFT_IDENTITY_FILE, else mediacraft/identity.json under $XDG_CONFIG_HOME or ~/.config."""
    explicit = os.environ.get("MEDIACRAFT_IDENTITY_FILE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "mediacraft" / "identity.json"


class IdentityFile:
    """Cookies per server, persisted atomically with private permissions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._depth = 0  # the lock is re-entrant in this process: a save may run while it is held

    def load(self, server: str) -> dict[str, str]:
        """The cookies saved for `server` (empty when there are none yet)."""
        entry = self._read().get("servers", {}).get(server, {})
        cookies = entry.get("cookies", {}) if isinstance(entry, dict) else {}
        return {str(k): str(v) for k, v in cookies.items()} if isinstance(cookies, dict) else {}

    def save(self, server: str, cookies: dict[str, str]) -> None:
        """Replace the cookies of `server`, keeping every other server's entry."""
        with self.locked():
            doc = self._read()
            servers = doc.setdefault("servers", {})
            if cookies:
                servers[server] = {
                    "cookies": dict(cookies),
                    "updated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                }
            else:
                servers.pop(server, None)
            doc["version"] = FORMAT_VERSION
            self._write(doc)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the identity lock against other processes (nested holds in this one are free)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._ensure_dir()
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth = 1
            yield
        finally:
            self._depth = 0
            os.close(fd)  # closing the descriptor releases the flock

    def _ensure_dir(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise CliError(f"Cannot create the directory of the identity file {self.path}: {exc.strerror}") from None

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {"version": FORMAT_VERSION, "servers": {}}
        except OSError as exc:
            raise CliError(f"Cannot read the identity file {self.path}: {exc.strerror}") from None
        self._tighten()
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("servers", {}), dict):
            # never overwrite what may be somebody's only key to their tasks
            raise CliError(f"The identity file {self.path} is not readable JSON; move it away to start a new identity")
        return doc

    def _tighten(self) -> None:
        # a file copied in with looser permissions holds a bearer credential: make it private again
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if mode & 0o077:
                os.chmod(self.path, 0o600)
        except OSError:
            pass

    def _write(self, doc: dict[str, Any]) -> None:
        self._ensure_dir()
        data = json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"
        # mkstemp creates the file 0600 before anything is written into it
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.path.parent)


def _fsync_dir(path: Path) -> None:
    """Make the rename durable (a crash right after must not bring back the old file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
