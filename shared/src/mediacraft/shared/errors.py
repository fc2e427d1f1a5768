"""Typed errors that handlers raise; the bus adapter and the gateway map them to outcomes."""

from __future__ import annotations


class MediaCraftError(Exception):
    """Base of every error the project raises on purpose; `code` is stable for clients."""

    code = "internal_error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message or self.__class__.__name__
        if code is not None:
            self.code = code


class RetryableError(MediaCraftError):
    """A failure that may succeed later (backend down, timeout); `delay` is in seconds."""

    code = "retryable"

    def __init__(self, message: str = "", *, delay: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.delay = delay


class InvalidInput(MediaCraftError):
    """Input that will never succeed as it is; fails at once, never retried."""

    code = "invalid_input"


class NotFound(MediaCraftError):
    """The thing does not exist, or the caller may not know that it does."""

    code = "not_found"


class Conflict(MediaCraftError):
    """A compare-and-set lost, or a state transition that is not allowed now."""

    code = "conflict"


class InvalidTransition(MediaCraftError, ValueError):
    """A store write the task state machine does not allow (shared/transitions.py): a bug, not a race.

    Not a Conflict, so that callers retrying lost compare-and-sets never swallow it.
    """

    code = "invalid_transition"
