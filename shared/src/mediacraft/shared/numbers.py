"""Number types for the fields a person fills in: JSON numbers only, never a boolean or a string.

Lax pydantic reads `true` as 1 and `"7"` as 7, so `{"regions": [[true, false, true, true]]}` would
become `[[1, 0, 1, 1]]`. Every task config model (watermark, merge, generation) types its numbers
with these instead:

- `Whole`: a JSON whole number (`7`, or `7.0`, which JSON does not tell apart; not `7.5`, `true`
  or `"7"`);
- `Number`: any JSON number (`7` or `7.5`; not `true` or `"7.5"`).

Constraints (`Field(ge=..., le=...)`) apply as usual. Pure: types only.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def _refuse_non_numbers(kind: str) -> Any:
    def check(value: Any) -> Any:
        # bool is a subclass of int, and lax parsing would read digits in a string
        if isinstance(value, (bool, str, bytes, bytearray)):
            raise ValueError(f"must be {kind}, not {type(value).__name__}")
        return value

    return check


Whole = Annotated[int, BeforeValidator(_refuse_non_numbers("a whole number"))]
Number = Annotated[float, BeforeValidator(_refuse_non_numbers("a number"))]
