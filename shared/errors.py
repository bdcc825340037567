"""The one tree of fairscribe errors.

    FairscribeError
     ├── ConfigError            a setting is missing or malformed (names the variable)
     ├── ProtocolError          a message broke the wire protocol (framing, JSON, size)
     ├── ClientError            raised by the client library
     │    ├── DaemonNotRunning  nothing answers on the socket / address
     │    └── RemoteError       the daemon answered with a JSON-RPC error
     └── TaskFailure            one file failed; the job goes on (daemon side)
          ├── FileRejected      the file itself is unusable: not audio, empty, too long …
          ├── EngineRejected    the engine refused or failed this file for good
          └── TransientError    worth retrying later: rate limits, 5xx, timeouts, dropped links

Every message names the file, field or variable concerned, and never carries a secret.
"""

from __future__ import annotations

from typing import Any


class FairscribeError(Exception):
    """Something went wrong in fairscribe."""


class ConfigError(FairscribeError):
    """A setting is missing or malformed."""


class ProtocolError(FairscribeError):
    """A message broke the fairscribe wire protocol."""


class ClientError(FairscribeError):
    """The client could not complete a call."""


class DaemonNotRunning(ClientError):
    """No fairscribe daemon answers; start one with `fairscribed`."""


class RemoteError(ClientError):
    """The daemon answered a call with an error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class TaskFailure(FairscribeError):
    """One file failed; its reason is shown to its owner and the rest of the job goes on."""


class FileRejected(TaskFailure):
    """The file cannot be transcribed: it is empty, corrupt, not audio, silent or too long."""


class EngineRejected(TaskFailure):
    """The engine failed this file for good (for example AssemblyAI answered status `error`)."""


class TransientError(TaskFailure):
    """A failure worth retrying later: a rate limit, a 5xx, a timeout or a dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EngineUnavailable(TaskFailure):
    """The engine cannot work at all (wrong key, service unreachable): every file of the job would
    fail the same way, so the job is failed at once with this reason instead of file by file."""
