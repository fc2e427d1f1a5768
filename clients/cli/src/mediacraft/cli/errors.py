"""What can go wrong, and the exit status each failure gives a script to branch on."""

from __future__ import annotations

from typing import Any

OK = 0
API_ERROR = 1  # the server refused the request (its envelope says why)
USAGE = 2  # bad arguments or local files (argparse uses 2 as well)
TASK_FAILED = 3
TASK_CANCELLED = 4  # cancelled or expired: the task ended without a result
UNREACHABLE = 5  # no answer from the server, or a transfer broke off
INTERRUPTED = 130  # Ctrl-C: the task itself keeps running on the server


class CliError(Exception):
    """A failure reported as one line on stderr and an exit status."""

    exit_code = API_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CliError):
    exit_code = USAGE


class Unreachable(CliError):
    exit_code = UNREACHABLE


class ApiError(CliError):
    """An error answer from the API: the envelope's stable `error_code` and its message for people."""

    exit_code = API_ERROR

    def __init__(
        self,
        error_code: str,
        message: str,
        *,
        http_status: int,
        data: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.http_status = http_status
        self.data = data
        self.request_id = request_id
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        """The error as a script reads it from stdout in --json mode: the API's envelope fields."""
        return {
            "success": False,
            "code": self.http_status,
            "message": self.message,
            "error_code": self.error_code,
            "data": self.data,
            "request_id": self.request_id,
        }
