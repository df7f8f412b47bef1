"""Atomic file writes: the one way itnet-ts writes a file.

Every file the project writes (model files, forecast tables, figures, benchmark JSON, caches)
goes through :func:`atomic_write`: the content is written to a temporary file in the target's
folder, flushed to disk, and renamed over the target only once it is complete. A reader
therefore sees either the old file or the whole new one, never half of it, and a write that
fails (an exception, a full disk, Ctrl-C) leaves an existing file as it was and no temporary
file behind.

    >>> with atomic_write(path) as tmp:     # tmp: a Path next to path
    ...     frame.write_parquet(tmp)
    >>> write_bytes_atomic(path, data)      # the common cases in one call
    >>> write_text_atomic(path, text)

This module sits on the ground floor beside :mod:`itnet_ts.errors`: every layer may use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from itnet_ts.errors import ITNetInputError

__all__ = ["atomic_write", "default_file_mode", "write_bytes_atomic", "write_text_atomic"]


_UMASK_LOCK = threading.Lock()


def default_file_mode() -> int:
    """The permissions a plain ``open(path, "w")`` gives under the current umask
    (``mkstemp`` alone gives 0600)."""
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux): Dask
    writes partitions from several threads at once, and setting the umask to read it is a
    race in which one thread can leave it changed for good."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore it, one thread at a time
        umask = os.umask(0o022)
        os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; write the content there. When the block ends
    without an error the file is flushed to disk and renamed to ``path`` (replacing it); on an
    error it is removed and ``path`` is left untouched.

    ``overwrite=False``: refuse (``ITNetInputError``) when ``path`` exists by the time the
    content is complete, so a long write never clobbers a file that appeared meanwhile.
    Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        try:
            os.fchmod(fd, default_file_mode())
        finally:
            os.close(fd)
        yield tmp
        _fsync(tmp)
        if not overwrite and path.exists():
            raise ITNetInputError(f"{path} already exists; pass overwrite=True to replace it")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _fsync(file: Path) -> None:
    """Flush ``file``'s content to disk before it is renamed into place (a rename that
    reaches the disk before the data would leave an empty file after a power cut)."""
    fd = os.open(file, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
