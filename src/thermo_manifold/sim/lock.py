"""One run per run directory: `DIR/run.lock` holds the process id of the run that owns DIR.

Two runs writing into one directory mix their files (one's config.json, the other's summary and
checkpoint). A run takes the lock before it writes anything and gives it back after its last
write; a second run finds it held and refuses. A lock left by a process that no longer exists
(killed with -9, a power cut) is stale and taken over; a lock from another host cannot be
checked, so it is respected and the message says how to clear it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

LOCK_NAME = "run.lock"


class RunDirectoryBusy(ValueError):
    """Another live run owns the run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunLock:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.held = False

    def owner(self) -> tuple[int, str] | None:
        """(pid, host) of the lock's holder, or None when there is no readable lock."""
        try:
            pid, host = self.path.read_text(encoding="utf-8").split()[:2]
            return int(pid), host
        except (OSError, ValueError):
            return None

    def check(self) -> None:
        """Raise `RunDirectoryBusy` if a live run (other than this lock's) holds DIR."""
        if self.held:
            return
        owner = self.owner()
        if owner is None:
            return
        pid, host = owner
        if host != socket.gethostname():
            raise RunDirectoryBusy(f"--out {self.directory}: a run on host {host} (pid {pid}) "
                                   f"holds it; if that run is gone, delete {self.path}")
        if _alive(pid):
            raise RunDirectoryBusy(f"--out {self.directory}: another run (pid {pid}) is "
                                   "writing there; wait for it or choose another --out")

    def acquire(self) -> None:
        """Take the lock (a stale one is replaced); `RunDirectoryBusy` if a live run holds it."""
        if self.held:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self.check()  # raises when the holder is alive
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()} {socket.gethostname()}\n")
            self.held = True
            return
        raise RunDirectoryBusy(f"--out {self.directory}: could not take {self.path} (another "
                               "run started at the same moment)")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


__all__ = ["LOCK_NAME", "RunDirectoryBusy", "RunLock"]
