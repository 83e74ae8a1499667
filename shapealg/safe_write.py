"""Writing the files the user names (``export -o``, ``cost --plot``): whole or not at all.

Every file is written to a temporary file in the target's own folder, flushed to disk, and renamed over the
target only when complete, so a failed write (disk full, a file-size limit, an interruption) leaves an
existing target as it was and no partial file behind. The path named is the file replaced: a symlink there is
replaced by the new file, never written through. A character device or a pipe (``/dev/null``,
``/dev/stdout``, ``>(cmd)``) cannot be renamed over and is written directly. Every I/O failure becomes a
one-line ShapealgError naming the path and the reason.

``Transaction`` groups several files (an annotated model and the external data copied beside it): all are
written to temporary files first, then renamed into place, data files before the model that references them.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
from typing import BinaryIO, Callable, List, Optional, Tuple

from .limits import answer_ready
from .records import ShapealgError

__all__ = ["atomic_write", "Transaction", "io_reason", "is_stream", "same_file"]

_COPY_CHUNK = 1 << 20


def io_reason(e: OSError) -> str:
    """An OSError's reason in words (``No space left on device``)."""
    if isinstance(e, FileNotFoundError):
        return "no such file or folder"
    return e.strerror or (os.strerror(e.errno) if e.errno else type(e).__name__)


def same_file(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are the same file (device and inode, symlinks followed); False when either
    does not exist."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _target_kind(path: str) -> str:
    """'new' / 'regular' (replaced by rename; a symlink counts as regular: it is replaced, not followed),
    'stream' (a character device or a pipe: written directly), or raises for what cannot be written."""
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        return "new"
    except OSError as e:
        raise ShapealgError(f"{path}: cannot write ({io_reason(e)})") from None
    if stat.S_ISLNK(lst.st_mode):
        try:
            st = os.stat(path)
        except OSError:
            return "regular"  # a dangling link: replaced
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            return "stream"  # /dev/stdout, /dev/fd/N
        if stat.S_ISDIR(st.st_mode):
            raise ShapealgError(f"{path}: is a directory; give the file's path")
        return "regular"
    if stat.S_ISDIR(lst.st_mode):
        raise ShapealgError(f"{path}: is a directory; give the file's path")
    if stat.S_ISCHR(lst.st_mode) or stat.S_ISFIFO(lst.st_mode):
        return "stream"
    if not stat.S_ISREG(lst.st_mode):
        raise ShapealgError(f"{path}: not a regular file (a socket or a block device); refusing to write to it")
    return "regular"


def is_stream(path: str) -> bool:
    """Whether ``path`` is a character device or a pipe (written directly, not replaced)."""
    try:
        return _target_kind(os.fspath(path)) == "stream"
    except ShapealgError:
        return False


def _open_temp(path: str) -> Tuple[str, int]:
    """A new temporary file beside ``path`` (same folder, so the rename is atomic), with the permissions a
    new file gets (0666 less the umask)."""
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)[:100]
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.shapealg-tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise ShapealgError(f"{path}: cannot write (folder {folder} does not exist)") from None
        except OSError as e:
            raise ShapealgError(f"{path}: cannot write ({io_reason(e)})") from None
        return tmp, fd
    raise ShapealgError(f"{path}: cannot write (no free temporary name in {folder})")


def _remove(p: Optional[str]) -> None:
    if p:
        try:
            os.unlink(p)
        except OSError:
            pass


def _write_stream(path: str, write: Callable[[BinaryIO], None]) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        why = "no process is reading the pipe" if e.errno == errno.ENXIO else io_reason(e)
        raise ShapealgError(f"{path}: cannot write ({why})") from None
    try:
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            write(f)
    except OSError as e:
        raise ShapealgError(f"{path}: cannot write ({io_reason(e)})") from None
    finally:
        if fd >= 0:
            os.close(fd)


class Transaction:
    """Several files written to temporary files, then renamed into place together (``commit``); on any failure
    (or without ``commit``) every temporary file is removed and no target is touched. Use as a context
    manager."""

    def __init__(self) -> None:
        self._pending: List[Tuple[str, str]] = []  # (temporary, target), in commit order
        self._streams: List[Tuple[str, Callable[[BinaryIO], None]]] = []
        self._made_dirs: List[str] = []

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, et, ev, tb) -> None:
        self.abort()

    def makedirs(self, folder: str) -> None:
        """Create ``folder`` (and missing parents); removed again on abort when still empty."""
        missing = []
        f = os.path.abspath(folder)
        while f and not os.path.isdir(f):
            missing.append(f)
            parent = os.path.dirname(f)
            if parent == f:
                break
            f = parent
        for d in reversed(missing):
            try:
                os.mkdir(d)
            except FileExistsError:
                if not os.path.isdir(d):
                    raise ShapealgError(f"{d}: exists and is not a folder") from None
                continue
            except OSError as e:
                raise ShapealgError(f"{d}: cannot create the folder ({io_reason(e)})") from None
            self._made_dirs.append(d)

    def add(self, path: str, write: Callable[[BinaryIO], None]) -> None:
        """Write ``path``'s new contents (``write(f)`` on a binary file) to a temporary file now."""
        path = os.fspath(path)
        if _target_kind(path) == "stream":
            self._streams.append((path, write))  # cannot be staged: written at commit
            return
        tmp, fd = _open_temp(path)
        self._pending.append((tmp, path))
        try:
            with os.fdopen(fd, "wb") as f:
                fd = -1
                write(f)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise ShapealgError(f"{path}: cannot write ({io_reason(e)})") from None
        finally:
            if fd >= 0:
                os.close(fd)

    def add_copy(self, src_fd: int, path: str) -> None:
        """Stage a copy of the open file ``src_fd`` (read from its start) as ``path``."""
        def copy(f: BinaryIO) -> None:
            os.lseek(src_fd, 0, os.SEEK_SET)
            while True:
                chunk = os.read(src_fd, _COPY_CHUNK)
                if not chunk:
                    return
                f.write(chunk)
        self.add(path, copy)

    def commit(self) -> None:
        """Rename every temporary file over its target, in the order added; then write any stream. From here
        on the command's clock no longer fires (``limits.answer_ready``): a file put in place is never
        followed by an 'incomplete' failure."""
        answer_ready()
        try:
            while self._pending:
                tmp, path = self._pending[0]
                os.replace(tmp, path)
                self._pending.pop(0)
        except OSError as e:
            raise ShapealgError(f"{self._pending[0][1]}: cannot write ({io_reason(e)})") from None
        self._made_dirs = []
        for path, write in self._streams:
            _write_stream(path, write)
        self._streams = []

    def abort(self) -> None:
        for tmp, _ in self._pending:
            _remove(tmp)
        self._pending = []
        self._streams = []
        for d in reversed(self._made_dirs):
            try:
                os.rmdir(d)
            except OSError:
                pass
        self._made_dirs = []


def atomic_write(path, write: Callable[[BinaryIO], None]) -> None:
    """Write one file whole or not at all: ``write(f)`` fills a temporary file beside ``path``, which then
    replaces ``path``. Any failure leaves ``path`` as it was and raises a one-line ShapealgError."""
    with Transaction() as t:
        t.add(os.fspath(path), write)
        t.commit()
