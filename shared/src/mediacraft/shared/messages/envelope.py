"""The envelope every bus message travels in, and the registry that turns it back into a model.

A message class declares `TYPE` (stable wire name) and `VERSION`. Adding an optional field needs
no new version; a rename or a removed field bumps VERSION and registers an upcaster that turns the
old payload shape into the new one, so stored and in-flight messages of the old shape still open.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from mediacraft.shared.clock import utcnow
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.tracing import current_traceparent


class Message(BaseModel):
    """Base of every command and event: frozen, strict about unknown fields being ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.TYPE:
            registry.register(cls)


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
M = TypeVar("M", bound=Message)


class Registry:
    """Maps wire type names to message classes, and holds upcasters per (type, from_version)."""

    def __init__(self) -> None:
        self._types: dict[str, type[Message]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, cls: type[Message]) -> None:
        existing = self._types.get(cls.TYPE)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"message type {cls.TYPE!r} registered twice")
        self._types[cls.TYPE] = cls

    def add_upcaster(self, type_name: str, from_version: int, fn: Upcaster) -> None:
        self._upcasters[(type_name, from_version)] = fn

    def resolve(self, type_name: str) -> type[Message]:
        try:
            return self._types[type_name]
        except KeyError:
            raise InvalidInput(f"unknown message type {type_name!r}", code="unknown_message_type") from None

    def load(self, type_name: str, version: int, payload: dict[str, Any]) -> Message:
        cls = self.resolve(type_name)
        if version > cls.VERSION:
            raise InvalidInput(
                f"{type_name} v{version} is newer than this service understands (v{cls.VERSION})",
                code="unsupported_schema_version",
            )
        while version < cls.VERSION:
            fn = self._upcasters.get((type_name, version))
            if fn is None:
                raise InvalidInput(f"no upcaster for {type_name} v{version}", code="unsupported_schema_version")
            payload = fn(dict(payload))
            version += 1
        try:
            return cls.model_validate(payload)
        except Exception as exc:  # pydantic.ValidationError, kept generic for the message
            raise InvalidInput(f"invalid {type_name} payload: {exc}", code="invalid_message") from exc

    @property
    def types(self) -> dict[str, type[Message]]:
        return dict(self._types)


registry = Registry()


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator registering an upcaster from `from_version` to `from_version + 1`."""

    def deco(fn: Upcaster) -> Upcaster:
        registry.add_upcaster(type_name, from_version, fn)
        return fn

    return deco


def new_id() -> str:
    return uuid.uuid4().hex


class Envelope(BaseModel):
    """What travels on the bus: metadata plus the message payload as plain JSON."""

    model_config = ConfigDict(frozen=True)

    message_id: str = Field(default_factory=new_id)
    type: str
    schema_version: int
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: str | None = None
    causation_id: str | None = None
    # the W3C traceparent of the span it was published in (mediacraft.shared.tracing): the
    # handler continues that trace; None outside any trace, and in envelopes older than the field
    traceparent: str | None = None
    payload: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        message: Message,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        occurred_at: datetime | None = None,
        traceparent: str | None = None,
    ) -> Envelope:
        """Put a message in a new envelope, in the trace of `traceparent` or else of the current span."""
        extra: dict[str, Any] = {}
        if occurred_at is not None:
            extra["occurred_at"] = occurred_at
        return cls(
            type=message.TYPE,
            schema_version=message.VERSION,
            correlation_id=correlation_id,
            causation_id=causation_id,
            traceparent=traceparent or current_traceparent(),
            payload=message.model_dump(mode="json"),
            **extra,
        )

    def open(self) -> Message:
        """The typed message inside, upcast to the current version."""
        return registry.load(self.type, self.schema_version, self.payload)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        """Parse wire bytes; a body that is not an envelope is InvalidInput."""
        try:
            return cls.model_validate_json(body)
        except Exception as exc:
            raise InvalidInput(f"not a MediaCraft envelope: {exc}", code="invalid_envelope") from exc
