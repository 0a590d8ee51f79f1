"""The run folder's lock: `.posenc.run.lock`, an flock held by the process that claims and
runs the folder's job, so a second process is refused before it reads or writes anything."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from posenc.store import files
from posenc.store.run_folder import is_run


class RunFolderTaken(Exception):
    """A folder holding a run of another config, or in use by another process: never written
    over without overwrite=true."""


RUN_LOCK = ".posenc.run.lock"  # held (flock) by the process running the folder's job


class FolderReadOnly(RunFolderTaken):
    """The folder itself cannot be written (an archived, immutable sweep): only a completed
    run of the same config can be claimed there, reused without a write."""


@contextlib.contextmanager
def held(run_dir: Path) -> Iterator[bool]:
    """The run folder for this process alone while it claims and runs its job: a second
    process is refused (RunFolderTaken, naming the holder) before it reads or writes
    anything. An flock, so a holder that dies (even by SIGKILL) leaves nothing to clear;
    the lock file is removed on release. Yields False, unlocked, for a folder holding a run
    that cannot be written at all: pass it to claim as `read_only`."""
    path = Path(run_dir) / RUN_LOCK
    try:
        fd = _lock(path, run_dir)
    except FolderReadOnly:
        if not is_run(run_dir):
            raise
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):  # before the release: a newcomer makes a new file
            path.unlink()
        os.close(fd)


def _lock(path: Path, run_dir: Path) -> int:
    import fcntl
    import socket

    while True:
        try:
            fd = files.open_plain(path, os.O_RDWR | os.O_CREAT)
        except files.NotAPlainFile as e:  # a planted link is never followed, a FIFO never read
            raise RunFolderTaken(
                f"{path} is {e.what}, not the lock file posenc writes; remove it "
                f"(rm '{path}') and run again; nothing was changed"
            ) from None
        except OSError as e:
            if path.exists() or path.is_symlink():  # the lock itself, not the folder
                raise RunFolderTaken(
                    f"{path} cannot be opened ({e.strerror}); remove it (rm '{path}'; "
                    "chattr -i first if it is immutable) and run again; nothing was changed"
                ) from None
            raise FolderReadOnly(
                f"{run_dir} cannot be written ({e.strerror}); nothing was changed"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "starting"
            os.close(fd)
            raise RunFolderTaken(
                f"{run_dir} is in use by another run ({holder}); wait for it to end or "
                "choose another folder; nothing was changed"
            ) from None
        try:
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                break  # not a file its holder removed
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
    return fd
