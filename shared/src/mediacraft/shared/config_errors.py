"""The error a task config model raises: `invalid_config`, worded from pydantic's first complaint."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mediacraft.shared.errors import InvalidInput


class InvalidConfig(InvalidInput):
    """A task config that will never run as it is; `data` says more to an API client."""

    code = "invalid_config"

    def __init__(self, message: str, *, data: dict[str, Any] | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.data = data

    @classmethod
    def from_validation(cls, exc: ValidationError) -> InvalidConfig:
        """The first problem as the message, every problem in `data.errors`."""
        errors = [
            {"loc": [str(p) for p in e["loc"]], "msg": str(e["msg"]).removeprefix("Value error, ")}
            for e in exc.errors()
        ]
        first = errors[0]
        where = ".".join(first["loc"]) or "config"
        return cls(f"Invalid config: {where}: {first['msg']}", data={"errors": errors})


Model = TypeVar("Model", bound=BaseModel)


def parse_config(model: type[Model], config: Any) -> Model:
    """`config` (a JSON object) validated by `model`, or InvalidConfig."""
    if not isinstance(config, dict):
        raise InvalidConfig("The config must be a JSON object")
    try:
        return model.model_validate(config)
    except ValidationError as exc:
        raise InvalidConfig.from_validation(exc) from None
