"""Writing a file so that it is either the old one or the whole new one: HAR, CSV and Parquet exports."""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_BUFFER = 1 << 20  # entries are a few kB each: write them a megabyte at a time


@contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A file to write that becomes `path` only once it is whole (fsync, rename); if the
    writing fails, `path` stays as it was.

    The temporary file beside it is named after this host and process: a writer killed
    outright (SIGKILL, the OOM killer) cannot remove its own, so the next write to `path`
    removes those whose process is gone.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():  # else mkstemp's error would name the temporary file, not the folder
        raise FileNotFoundError(errno.ENOENT, f"no folder to write {path.name} into", str(folder))
    _remove_stale_temporaries(folder, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        # mkstemp makes the file 0600: give it the mode the file had, or an ordinary file's.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        with os.fdopen(fd, "wb", buffering=_BUFFER) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]  # a folder may be shared between hosts


def _remove_stale_temporaries(folder: Path, name: str) -> None:
    if os.name != "posix":  # os.kill(pid, 0) probes a process on POSIX only (on Windows it kills it)
        return
    for tmp in folder.glob(f".{glob.escape(name)}.{_HOST}-*.tmp"):
        pid = tmp.name[len(name) + len(_HOST) + 3:].partition(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
