"""Build adapters from URLs. Adapter modules are imported only when their scheme is used, so a
service installs only the client libraries of the adapters it runs with.

Each factory returns its port, so a type checker proves every adapter conforms to the Protocol
it is used through (a method missing or with another signature fails the check here)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mediacraft.shared.clock import Clock, SystemClock
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.ports.objects import ObjectStore
from mediacraft.shared.ports.stores import Store
from mediacraft.shared.topology import Topology, build_topology


def make_bus(url: str, *, topology: Topology | None = None, clock: Clock | None = None, **kwargs: Any) -> Bus:
    """`memory://` or `amqp://user:pass@host:port/vhost`."""
    topology = topology or build_topology()
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from mediacraft.shared.adapters.bus.memory import MemoryBus

        return MemoryBus(topology=topology, clock=clock or SystemClock(), **kwargs)
    if scheme in ("amqp", "amqps"):
        from mediacraft.shared.adapters.bus.rabbitmq import RabbitBus

        return RabbitBus(url, topology=topology, **kwargs)
    raise ValueError(f"unsupported bus URL scheme {scheme!r}")


def make_store(url: str, **kwargs: Any) -> Store:
    """`sqlite:///relative/or/absolute.db` or `mongodb://host:port/dbname`; implements both store ports.

    SQLite takes `?synchronous=FULL|NORMAL` and `?busy_timeout_ms=N` from the URL (FULL by default).
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from mediacraft.shared.adapters.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url), **{**sqlite_options(url), **kwargs})
    if scheme in ("mongodb", "mongodb+srv"):
        from mediacraft.shared.adapters.store.mongo import MongoStore

        return MongoStore(url, **kwargs)
    raise ValueError(f"unsupported store URL scheme {scheme!r}")


def make_object_store(url: str, **kwargs: Any) -> ObjectStore:
    """`file:///path` or `s3://KEY:SECRET@host:port/bucket?secure=false&region=...`."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        from mediacraft.shared.adapters.objects.local import LocalObjectStore

        return LocalObjectStore(file_path(url), **kwargs)
    if parts.scheme == "s3":
        from mediacraft.shared.adapters.objects.s3 import S3ObjectStore

        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return S3ObjectStore(
            endpoint=f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname),
            access_key=unquote(parts.username or ""),
            secret_key=unquote(parts.password or ""),
            bucket=parts.path.strip("/") or "mediacraft",
            secure=query.get("secure", "true").lower() in ("1", "true", "yes"),
            region=query.get("region"),
            **kwargs,
        )
    raise ValueError(f"unsupported object store URL scheme {parts.scheme!r}")


def sqlite_options(url: str) -> dict[str, Any]:
    """SqliteStore options from the URL's query: synchronous (a PRAGMA value), busy_timeout_ms."""
    query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    options: dict[str, Any] = {}
    if "synchronous" in query:
        value = query["synchronous"].upper()
        if value not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unsupported SQLite synchronous mode {value!r}")
        options["synchronous"] = value
    if "busy_timeout_ms" in query:
        options["busy_timeout_ms"] = int(query["busy_timeout_ms"])
    return options


def sqlite_path(url: str) -> str:
    """`sqlite:///./var/x.db` -> `./var/x.db`; `sqlite:////abs/x.db` -> `/abs/x.db` (query dropped)."""
    url = url.split("?", 1)[0]
    return url.split("sqlite:///", 1)[1] if url.startswith("sqlite:///") else url.split("sqlite://", 1)[1]


def file_path(url: str) -> str:
    """`file:///./var/objects` -> `./var/objects`; `file:////abs` and `file:///abs` -> `/abs`."""
    rest = url.split("file://", 1)[1]
    if rest.startswith("/./") or rest.startswith("/../"):
        return rest[1:]
    return rest
