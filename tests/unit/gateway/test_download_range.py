"""HTTP Range parsing for downloads."""

from __future__ import annotations

import pytest

from mediacraft.gateway.download import ByteRange, parse_range
from mediacraft.gateway.envelope import ApiError


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
    ],
)
def test_satisfiable_ranges(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-1", "bytes=-0", "bytes=-", "items=0-1", "bytes=abc"])
def test_unsatisfiable_ranges_answer_416_with_the_size(header: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_range(header, 1000)
    assert err.value.status == 416 and err.value.headers["Content-Range"] == "bytes */1000"
