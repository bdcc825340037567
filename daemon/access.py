"""Who may read and write which folders.

The daemon may run with more rights than the people it serves (as root, or in a container), so a
folder is checked against the caller's own rights, not the daemon's: an OS user connected over the
Unix socket by their uid and groups, a token user by the roots configured for them, and an admin by
what the daemon itself can reach.
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass, field
from pathlib import Path

READ, WRITE, EXECUTE = 4, 2, 1


@dataclass(frozen=True)
class Caller:
    """The identity behind a connection, and how its file access is judged."""

    name: str
    admin: bool = False
    uid: int | None = None
    gids: frozenset[int] = field(default_factory=frozenset)
    roots: tuple[str, ...] | None = None  # set for token users: the folders they may use

    def describe(self) -> str:
        if self.roots is not None:
            return f"token user {self.name}"
        return f"user {self.name}"


def os_caller(uid: int, gid: int) -> Caller:
    try:
        entry = pwd.getpwuid(uid)
        name = entry.pw_name
        gids = frozenset(os.getgrouplist(name, gid))
    except KeyError:
        name, gids = f"uid{uid}", frozenset({gid})
    return Caller(name=name, admin=uid in (0, os.getuid()), uid=uid, gids=gids)


def _allows(mode: os.stat_result, caller: Caller, want: int) -> bool:
    if caller.uid == 0:
        return True
    if mode.st_uid == caller.uid:
        bits = (mode.st_mode >> 6) & 7
    elif mode.st_gid in caller.gids:
        bits = (mode.st_mode >> 3) & 7
    else:
        bits = mode.st_mode & 7
    return bits & want == want


def may_access(path: Path, caller: Caller, want: int) -> bool:
    """Whether `caller` may open `path` with `want` (READ/WRITE/EXECUTE bits) — every folder on the
    way must be searchable by them too."""
    if caller.admin or caller.uid is None:
        flags = (os.R_OK if want & READ else 0) | (os.W_OK if want & WRITE else 0) | (os.X_OK if want & EXECUTE else 0)
        return os.access(path, flags)
    resolved = path.resolve()
    for parent in reversed(resolved.parents):
        try:
            if not _allows(parent.stat(), caller, EXECUTE):
                return False
        except OSError:
            return False
    try:
        return _allows(resolved.stat(), caller, want)
    except OSError:
        return False


def within_roots(path: Path, roots: tuple[str, ...]) -> bool:
    resolved = path.resolve()
    return any(resolved == Path(root).resolve() or resolved.is_relative_to(Path(root).resolve()) for root in roots)


def nearest_existing(path: Path) -> Path:
    """The folder that will hold `path` once its missing parents are made."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except OSError:
        return False
