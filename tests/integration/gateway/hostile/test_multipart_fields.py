"""One-call submits whose form fields are many or large: refused with 413 once the fields pass
their number or their total size (not only one field's size), nothing created or left behind,
and the gateway's peak memory flat (read from outside the process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.gateway.hostile.conftest import (
    MAX_RISE_BYTES,
    ServedGateway,
    identity,
    send_hostile,
)

pytestmark = pytest.mark.slow

BOUNDARY = "hostileboundary"
FORM = f"multipart/form-data; boundary={BOUNDARY}"


def fields(count: int, size: int) -> Iterator[bytes]:
    """`count` non-file fields of `size` bytes each, generated one by one, then the closing boundary."""
    yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="task_type"\r\n\r\nwatermark_removal\r\n'.encode()
    value = b"v" * size
    for i in range(count):
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n'.encode() + value + b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize(
    ("count", "size", "code"),
    [
        (100_000, 10, "too_many_fields"),  # many small fields: refused past the count
        (1_600, 60_000, "payload_too_large"),  # 1,600 fields (~93 MB) each under the field limit: past the total
        (1, 50 * 1024 * 1024, "payload_too_large"),  # one 50 MB field
    ],
    ids=["many_small_fields", "many_fields_over_total", "one_large_field"],
)
def test_a_submit_with_many_or_large_fields_is_refused(
    product: ServedGateway, count: int, size: int, code: str
) -> None:
    cookie = identity(product.url)
    before = product.state(cookie)
    peak_before = product.memory("VmHWM")
    answer = send_hostile(product.url, "/api/tasks/submit", fields(count, size), cookie=cookie, content_type=FORM)
    assert (answer.status, answer.error_code) == (413, code), answer
    assert product.memory("VmHWM") - peak_before < MAX_RISE_BYTES
    assert product.state(cookie) == before
