"""What the GUI knows about its link to the daemon, as one immutable value passed in signals."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Link(StrEnum):
    CONNECTING = "connecting"
    RESPONDING = "responding"
    NOT_RESPONDING = "not responding"


@dataclass(frozen=True)
class LinkStatus:
    link: Link
    where: str
    """The socket path or HOST:PORT being tried, as the client library describes it."""
    user: str | None = None
    """Who the daemon says we are, once it has answered."""
    retry_in: float | None = None
    """Seconds until the next attempt, while not responding."""
    reason: str = ""
    refused: bool = False
    """The daemon answered, with an error (a wrong token, most likely): not silence, and usually
    fixed in the connection settings rather than by waiting."""
    ever_connected: bool = False
    """False until a daemon first answers: then "none is running" is the likely story, and the
    window offers to start one instead of just waiting."""

    @property
    def responding(self) -> bool:
        return self.link is Link.RESPONDING
