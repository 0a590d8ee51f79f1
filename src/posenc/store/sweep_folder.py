"""The sweep folder: its lock, its manifest, and the names of its job folders; this module
is their only writer and reader.

- `.posenc.lock`: held by the sweep under way (`pid`, `host`): one sweep at a time.
- `manifest.jsonl`: one line per job a sweep launched, appended by the job when it claims its
  folder: `job` (the folder, relative to the sweep folder), `overrides`, `claim` (`new`,
  `rerun`, `reuse`, `overwrite` or `refused`), `error` (refused). Several multirun commands
  may write into one sweep folder (a study of several grids): each appends its jobs. A sweep
  knows its own jobs as the lines added while it held the lock, by position in the file, so
  no clock (NFS, other Slurm nodes) decides what belongs to it.
- Job folders are named by the job's overrides (`encoding=rope,seed=1`), not by a number, so
  grids into one folder never collide and a rerun finds each job's folder by its config.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posenc.errors import ConfigError
from posenc.store import files

LOCK, MANIFEST = ".posenc.lock", "manifest.jsonl"
MULTIRUN = "multirun.yaml"  # Hydra's record of the sweep's command
log = logging.getLogger("posenc")
MAX_NAME = 120  # bytes of a job folder's name (UTF-8), well inside the 255 file systems allow


def job_dir_name(number: int | str, override_dirname: str) -> str:
    """The folder of a sweep job: its overrides as Hydra's override_dirname gives them
    (sorted, `key=value,...`), or its number when it has none. Characters a folder name
    cannot hold, or a name too long, get a short hash of the overrides so names stay unique."""
    name = override_dirname or f"job{number}"
    safe = name.replace(os.sep, "_").replace("\0", "_")
    if safe != name or len(safe.encode()) > MAX_NAME or safe in (".", ".."):
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        # cut by bytes, never inside a character: non-ASCII values take up to 4 bytes each
        head = safe.encode()[: MAX_NAME - 11].decode("utf-8", errors="ignore")
        safe = f"{head}-{digest}"
    return safe


def run_dir_name(stamp: str, override_dirname: str) -> str:
    """A single run's folder: its time, then what it is (its overrides, as a sweep job's
    folder is named), `2026-12-03_14-35-42_123456_+experiment=chomsky,encoding=rope`."""
    if not override_dirname:
        return stamp
    # `${` would make the folder's path an interpolation wherever Hydra stores it
    return job_dir_name("", f"{stamp}_{override_dirname.replace('$', '')}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Sweep:
    """A sweep under way in `path`, holding its lock; `start` is where its lines begin in the
    manifest, which it holds open (`manifest_fd`): a manifest removed or replaced while the
    sweep runs is told apart by its inode, which cannot be reused while held, and the lines
    written before that stay readable."""

    path: Path
    start: int = 0
    manifest_fd: int | None = None

    @classmethod
    def begin(cls, path: Path) -> Sweep:
        """Take the folder's lock (a lock left by a dead sweep on this host is taken over).
        Raises ConfigError (hydra.sweep.dir) when another sweep holds it or the folder
        cannot be made."""
        path = Path(path)
        manifest = path / MANIFEST
        try:
            files.check_plain(path / MULTIRUN)  # Hydra writes it next, following any link
        except files.NotAPlainFile as e:
            raise ConfigError("hydra.sweep.dir", str(e)) from None
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd = files.open_plain(manifest, os.O_RDONLY | os.O_CREAT)  # a FIFO never hangs it
        except files.NotAPlainFile as e:
            raise ConfigError("hydra.sweep.dir", str(e)) from None
        except OSError as e:
            raise ConfigError(
                "hydra.sweep.dir", f"cannot create the sweep folder {path}: {e.strerror}"
            ) from None
        try:
            _take_lock(path / LOCK)
        except BaseException:
            os.close(fd)
            raise
        # a sweep refused after this (Hydra building a sweeper that cannot be built) ends
        # with no callback: the lock goes with the process
        atexit.register(_release, path / LOCK, os.getpid())
        return cls(path, os.fstat(fd).st_size, fd)

    def end(self) -> None:
        (self.path / LOCK).unlink(missing_ok=True)
        atexit.unregister(_release)
        if self.manifest_fd is not None:
            os.close(self.manifest_fd)
            self.manifest_fd = None

    def _entries(self) -> list[dict[str, Any]]:
        """This sweep's manifest lines: those in the file it opened, from its start (from
        the beginning if the file was cut shorter), and, where the manifest was removed or
        replaced meanwhile, every line of the new one."""
        if self.manifest_fd is None:
            return read_manifest(self.path, self.start)
        held = os.fstat(self.manifest_fd)
        start = self.start if held.st_size >= self.start else 0
        entries = _parse(os.pread(self.manifest_fd, held.st_size - start, start))
        try:
            current = (self.path / MANIFEST).stat().st_ino
        except OSError:
            current = None
        if current != held.st_ino or start != self.start:
            log.warning(
                "%s was removed or replaced while the sweep ran: its jobs are read from the "
                "file it started with and from the new one",
                self.path / MANIFEST,
            )
            if current is not None and current != held.st_ino:
                entries += read_manifest(self.path, 0)
        return entries

    def jobs(self) -> tuple[list[Path], list[tuple[Path, str]]]:
        """(the job folders this sweep launched or reused, [(folder, why) it was refused])."""
        jobs, refused = {}, {}
        for entry in self._entries():
            folder = self.path / entry["job"]
            if entry.get("claim") == "refused":
                refused[folder] = entry.get("error", "refused")
            else:
                jobs[folder] = None
        return sorted(jobs), sorted(refused.items())


def _take_lock(path: Path) -> None:
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    clear = f"if no sweep is running there, remove it (rm '{path}') and run again"
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = json.loads(files.read_plain(path, 4096))  # never a link or FIFO
                pid, host = int(holder["pid"]), str(holder["host"])
            except files.NotAPlainFile as e:
                raise ConfigError("hydra.sweep.dir", str(e)) from None
            except (OSError, ValueError, TypeError, KeyError):
                raise ConfigError(
                    "hydra.sweep.dir",
                    f"the lock file {path} is empty or garbled, not one posenc wrote; {clear}",
                ) from None
            if host == me["host"] and not _alive(pid):
                path.unlink(missing_ok=True)  # left by a sweep that died: taken over
                continue
            if host == me["host"] and not _is_posenc(pid):
                raise ConfigError(
                    "hydra.sweep.dir",
                    f"the lock file {path} names pid {pid}, a live process that is not a "
                    f"posenc sweep (the pid was reused); {clear}",
                ) from None
            raise ConfigError(
                "hydra.sweep.dir",
                f"{path.parent} is in use by another sweep (pid {pid} on {host}); wait for "
                f"it or choose another folder ({clear})",
            ) from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return


def _release(lock: Path, pid: int) -> None:
    """Remove a lock this process still holds (never another's)."""
    try:
        if json.loads(files.read_plain(lock, 4096)).get("pid") == pid == os.getpid():
            lock.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _is_posenc(pid: int) -> bool:
    """Whether a live process on this host runs posenc (Linux: its command line); True
    where that cannot be read, so a lock is never taken from a sweep that may be running."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"posenc" in command or b"hydra" in command or b"pytest" in command


def record_job(
    sweep_dir: Path, run_dir: Path, overrides: list[str], claim: str, error: str | None = None
) -> None:
    """Append the job's line to the manifest: one write of one line, so parallel jobs
    never interleave (O_APPEND)."""
    entry: dict[str, Any] = {
        "job": os.path.relpath(run_dir, sweep_dir),
        "overrides": list(overrides),
        "claim": claim,
    }
    if error:
        entry["error"] = error
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    fd = files.open_plain(Path(sweep_dir) / MANIFEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_manifest(sweep_dir: Path, start: int = 0) -> list[dict[str, Any]]:
    """The manifest's entries from byte `start` on; a torn last line (a killed job) is
    skipped."""
    path = Path(sweep_dir) / MANIFEST
    if not path.is_file():
        return []
    try:
        fd = files.open_plain(path, os.O_RDONLY)
    except OSError:  # a link, a FIFO: no manifest of posenc's
        return []
    with os.fdopen(fd, "rb") as f:
        f.seek(start)
        return _parse(f.read())


def _parse(data: bytes) -> list[dict[str, Any]]:
    entries = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("job"), str):
            entries.append(entry)
    return entries
