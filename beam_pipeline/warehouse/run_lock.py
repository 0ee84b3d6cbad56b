"""Which runs of one warehouse are alive on this machine: each local run holds a shared lock while it runs.

Why: a run killed by SIGKILL or the out-of-memory killer never reaches the code
that closes its `runs` row, which would then say ``running`` forever. Whether
such a run is still going cannot be read from the warehouse, but the operating
system knows: an flock is released when its process dies, however it dies. So
every run started on this machine holds a shared lock on a file named after its
output while it runs, and a new run that can take that lock exclusively knows no
other local run of the same output is alive, and marks their rows ``died``.
Runs on Dataflow (or another remote runner) are left alone: their launcher
exiting says nothing about the job.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

LOCAL_RUNNERS: tuple[str, ...] = ("FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")


class LocalRunLock:
    """``with LocalRunLock(output) as alone:`` holds the lock for the block; `alone` says no other local run holds it."""

    def __init__(self, output: str, lock_dir: str | None = None):
        digest = hashlib.sha256(output.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        self.path = Path(lock_dir or tempfile.gettempdir()) / f"callmood-run-{digest}.lock"
        self._fd: int | None = None

    def __enter__(self) -> bool:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            alone = False
        fcntl.flock(self._fd, fcntl.LOCK_SH)     # from exclusive (or nothing) to shared: other runs may start
        return alone

    def __exit__(self, *exc_info) -> None:
        if self._fd is not None:
            os.close(self._fd)                   # closing releases the lock
            self._fd = None
