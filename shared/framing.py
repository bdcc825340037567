"""Socket framing: JSON-RPC 2.0 messages, one JSON object per line, at most 1 MiB each.

Both ends use the same reader so that an oversized or malformed line is refused the same way
everywhere: the reader never buffers more than the limit, whatever a peer sends.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from fairscribe.shared.errors import ProtocolError

MAX_MESSAGE_BYTES = 1024 * 1024


class MessageTooLarge(ProtocolError):
    """A line exceeded the 1 MiB message limit."""


class LineReader:
    """Splits a byte stream into lines without ever holding more than the limit of one line."""

    def __init__(self, sock: socket.socket, limit: int = MAX_MESSAGE_BYTES) -> None:
        self._sock = sock
        self._limit = limit
        self._buffer = bytearray()

    def read_line(self) -> bytes | None:
        """The next line without its newline, or None at end of stream."""
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                if len(line) > self._limit:
                    raise MessageTooLarge(f"message of {len(line)} bytes exceeds {self._limit}")
                return line
            if len(self._buffer) > self._limit:
                raise MessageTooLarge(f"message exceeds {self._limit} bytes")
            chunk = self._sock.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk


def encode(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n"
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return data


def decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message
