"""Exchange routing rules as RabbitMQ applies them, shared by both bus adapters.

The memory bus routes with these functions; the RabbitMQ adapter only needs the redeliver binding,
whose shape the broker forces: a headers exchange with `x-match: all` (or `any`) ignores every
binding argument that starts with `x-`, so a binding on `x-mc-target` under plain `all` matches
every message and a delayed message would come back to every queue. `all-with-x` (RabbitMQ
3.10 and later) compares the `x-` arguments too.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from mediacraft.shared.topology import TARGET_HEADER

DEFAULT_EXCHANGE = ""
MATCH_KEY = "x-match"


def redeliver_arguments(queue: str) -> dict[str, Any]:
    """Binding arguments of `queue` on the redeliver headers exchange (matches on x-mc-target)."""
    return {MATCH_KEY: "all-with-x", TARGET_HEADER: queue}


@lru_cache(maxsize=4096)
def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic match: words split on '.', '*' is exactly one word, '#' is zero or more."""
    return _match_words(tuple(pattern.split(".")), tuple(routing_key.split(".")))


def _match_words(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        # '#' may swallow any number of words, including none
        return any(_match_words(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match_words(rest, words[1:])


def headers_match(arguments: Mapping[str, Any], headers: Mapping[str, Any]) -> bool:
    """The headers exchange rule of RabbitMQ for one binding's arguments against message headers."""
    mode = str(arguments.get(MATCH_KEY, "all"))
    with_x = mode.endswith("-with-x")
    wanted = {k: v for k, v in arguments.items() if k != MATCH_KEY and (with_x or not k.startswith("x-"))}
    hits = (k in headers and (v is None or headers[k] == v) for k, v in wanted.items())
    if mode.startswith("any"):
        return any(hits)
    return all(hits)


def binding_matches(
    exchange_type: str,
    binding_key: str,
    arguments: Mapping[str, Any] | None,
    routing_key: str,
    headers: Mapping[str, Any],
) -> bool:
    """Whether a message with this routing key and headers goes through one binding."""
    if exchange_type == "fanout":
        return True
    if exchange_type == "direct":
        return binding_key == routing_key
    if exchange_type == "topic":
        return topic_matches(binding_key, routing_key)
    if exchange_type == "headers":
        return headers_match(arguments or {}, headers)
    raise ValueError(f"unsupported exchange type {exchange_type!r}")
