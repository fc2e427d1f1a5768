"""Downloading a result to disk in constant memory, resuming an interrupted download with Range.

Bytes go to `<target>.<task id prefix>.part` and the file gets its real name only once every byte
is there, so a file under the target name is always complete. Running the same command again
after an interruption asks for the missing tail only. A redirect to presigned storage is followed
without the identity cookie.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin

import httpx

from mediacraft.cli.api import Api, client_options, describe, task_path
from mediacraft.cli.envelope import unwrap
from mediacraft.cli.errors import ApiError, CliError, Unreachable
from mediacraft.cli.progress import StatusLine, transfer_line

CHUNK = 1024 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_UNSATISFIED = re.compile(r"^bytes \*/(\d+)$")


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    resumed_from: int  # bytes already on disk from an earlier attempt
    already_complete: bool = False


def filename_from_disposition(header: str | None) -> str | None:
    """The file name a Content-Disposition suggests (filename* preferred), not yet made safe."""
    if not header:
        return None
    star = re.search(r"filename\*\s*=\s*([^;]+)", header, re.IGNORECASE)
    if star:
        value = star.group(1).strip()
        charset, _, rest = value.partition("''")
        if rest:
            return unquote(rest, encoding=charset or "utf-8", errors="replace")
    plain = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"|filename\s*=\s*([^;]+)', header, re.IGNORECASE)
    if plain:
        return re.sub(r"\\(.)", r"\1", plain.group(1)) if plain.group(1) is not None else plain.group(2).strip()
    return None


def safe_filename(name: str | None, fallback: str) -> str:
    """A plain file name for the current directory: no directories, control characters or dot files."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().lstrip(".")
    return name[:200] or fallback


def target_path(output: Path | None, suggested: str) -> Path:
    """Where the file goes: -o as given, inside -o when it is a directory, else the suggested name here."""
    if output is None:
        return Path.cwd() / suggested
    if output.is_dir() or str(output).endswith(os.sep):
        return output / suggested
    return output


def part_path(target: Path, task_id: str) -> Path:
    """The partial file of `target` for this task (another task's partial is never resumed)."""
    return target.with_name(f"{target.name}.{task_id.strip()[:8]}.part")


class Downloader:
    """One result download."""

    def __init__(self, api: Api, task_id: str, line: StatusLine) -> None:
        self.api = api
        self.task_id = task_id
        self.line = line
        self.path = task_path(task_id, "download")

    def run(self, output: Path | None, *, force: bool = False) -> Downloaded:
        """Download into `output` (or the server's file name); resume a partial file of ours."""
        size, suggested = self._describe()
        target = target_path(output, safe_filename(suggested, f"{self.task_id}.bin"))
        if target.exists() and not force:
            if target.is_file() and target.stat().st_size == size:
                return Downloaded(target, size, size, already_complete=True)
            raise CliError(f"{target} already exists; use --force to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        part = part_path(target, self.task_id)
        offset = part.stat().st_size if part.exists() else 0
        if offset > size:
            part.unlink()
            offset = 0
        resumed_from = offset
        if offset < size or size == 0:
            resumed_from = self._fetch(part, offset, size)
        if part.stat().st_size != size:
            raise Unreachable(
                f"The download is incomplete ({part.stat().st_size} of {size} bytes); "
                "run the same command again to resume"
            )
        os.replace(part, target)
        return Downloaded(target, size, resumed_from)

    def _describe(self) -> tuple[int, str | None]:
        """(size, suggested name) from a HEAD; when HEAD fails, a GET brings the error's envelope."""
        head = self.api.send("HEAD", self.path)
        if head.status_code != 200 or not head.headers.get("content-length", "").isdigit():
            with self.api.http.stream("GET", self.path) as head:
                if head.status_code != 200:
                    head.read()
                    unwrap(head)  # raises the server's error
                    raise ApiError(
                        f"http_{head.status_code}", "Unexpected download answer", http_status=head.status_code
                    )
        if not head.headers.get("content-length", "").isdigit():
            raise ApiError("no_length", "The server did not say how large the result is", http_status=head.status_code)
        return int(head.headers["content-length"]), filename_from_disposition(head.headers.get("content-disposition"))

    def _fetch(self, part: Path, offset: int, size: int) -> int:
        """Fill `part` from `offset`; returns the offset the server actually resumed from."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with self.api.http.stream("GET", self.path, headers=headers) as response:
                if response.status_code in (301, 302, 303, 307, 308) and response.headers.get("location"):
                    url = urljoin(str(response.url), response.headers["location"])
                    return self._fetch_elsewhere(url, part, offset, size, headers)
                return self._write(response, part, offset, size)
        except httpx.TransportError as exc:
            raise Unreachable(
                f"The download broke off ({describe(exc)}); run the same command again to resume"
            ) from None

    def _fetch_elsewhere(self, url: str, part: Path, offset: int, size: int, headers: dict[str, str]) -> int:
        # a presigned storage URL: a fresh client, so the identity cookie stays with our server
        options = client_options(self.api.server, 60.0)
        options.pop("base_url")
        with httpx.Client(**options) as plain, plain.stream("GET", url, headers=headers) as response:
            return self._write(response, part, offset, size)

    def _write(self, response: httpx.Response, part: Path, offset: int, size: int) -> int:
        status = response.status_code
        if status == 416:
            found = _UNSATISFIED.match(response.headers.get("content-range", ""))
            if found and int(found.group(1)) == offset:
                return offset  # everything is already here
            raise CliError(f"The server refused to resume {part}; delete it and run the command again")
        if status == 206:
            found = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if not found or int(found.group(1)) != offset:
                raise CliError("The server resumed from a different place than asked; delete the .part file and retry")
        elif status == 200:
            offset = 0  # the whole file: start over
        else:
            response.read()
            unwrap(response)
            raise ApiError(f"http_{status}", f"Unexpected download answer (HTTP {status})", http_status=status)
        done = offset
        with open(part, "ab" if offset else "wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                done += len(chunk)
                self.line.show(transfer_line("downloading", done, size), key=done * 10 // max(size, 1))
            out.flush()
            os.fsync(out.fileno())
        self.line.end()
        return offset
