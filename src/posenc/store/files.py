"""How posenc opens the files it writes inside run and sweep folders: never through a link,
never a FIFO or device, never a predictable temporary name. A copied or shared folder may
hold a planted symbolic link (`history.csv` -> a file of the user's elsewhere); following it
would overwrite that file, so a link or special file where posenc writes is refused
(`NotAPlainFile`) or, for derived outputs, replaced as a whole (`atomic_write`)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

# The process's umask, read once at import (before any thread): mkstemp's 0600 files are
# given the mode an ordinary open would have given them.
_UMASK = os.umask(0)
os.umask(_UMASK)


class NotAPlainFile(OSError):
    """A path posenc writes is a link, a folder or a special file: one line naming it, what
    it is and what to do."""

    def __init__(self, path: Path | str, what: str):
        self.path, self.what = Path(path), what
        super().__init__(
            f"{path} is {what}, not a plain file posenc can write; move it away (rm) and "
            "run again; nothing was changed"
        )


def describe(mode: int) -> str:
    """What a file of this st_mode is, in words."""
    for test, words in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def check_plain(path: Path | str) -> None:
    """Raises NotAPlainFile when the path exists and is anything but a regular file (links
    are not followed: a link to a regular file is refused too)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise NotAPlainFile(path, describe(mode))


def open_plain(path: Path | str, flags: int, mode: int = 0o644) -> int:
    """os.open that follows no link and opens no FIFO or device (O_NONBLOCK: a FIFO never
    hangs the open): the descriptor of a regular file, or NotAPlainFile. Other OSErrors
    (permission, a full disk) pass as they are."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EISDIR):  # a link (O_NOFOLLOW), a folder
            check_plain(path)
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotAPlainFile(path, describe(info.st_mode))
    os.set_blocking(fd, True)
    return fd


def open_writer(path: Path | str, append: bool = False):
    """A binary, unbuffered file object for writing a regular file (truncated, or appended
    to), through open_plain."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(open_plain(path, flags), "ab" if append else "wb", buffering=0)


def read_plain(path: Path | str, limit: int = 1 << 20) -> bytes:
    """At most `limit` bytes of a regular file, through open_plain (a FIFO never hangs)."""
    fd = open_plain(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        return f.read(limit)


@contextlib.contextmanager
def atomic_write(path: Path | str) -> Iterator[Path]:
    """A fresh temporary path beside `path` (same suffix, so savefig and np.save keep the
    format) that replaces `path` as a whole when the block ends: a link at `path` is
    replaced, never followed, and a crash leaves the old file or the new one, never half."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise NotAPlainFile(path, "a folder")
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    partial = Path(name)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> None:
    """A small text file, whole (atomic_write)."""
    with atomic_write(path) as partial:
        partial.write_text(text, encoding="utf-8")


def write_csv(path: Path | str, frame) -> None:
    """A pandas table as CSV without its index, whole (atomic_write)."""
    with atomic_write(path) as partial:
        frame.to_csv(partial, index=False)


class LogFileHandler(logging.FileHandler):
    """logging.FileHandler for a run's train.log that follows no link and opens no FIFO: a
    planted train.log is left alone (the job is then refused by its folder's check, in one
    line) and its records go nowhere. An existing log that cannot be opened (an archived,
    immutable run) is left alone too: only reusing that run needs no write, and the claim
    refuses anything else. A folder at that name stays an error, said by the caller."""

    def _open(self):
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        try:
            fd = open_plain(self.baseFilename, flags)
        except NotAPlainFile as e:
            if e.what == "a folder":
                raise IsADirectoryError(errno.EISDIR, "Is a directory", self.baseFilename) from None
            return open(os.devnull, "a", encoding=self.encoding)
        except PermissionError:
            if not os.path.lexists(self.baseFilename):
                raise
            return open(os.devnull, "a", encoding=self.encoding)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)
