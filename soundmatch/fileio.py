"""Reading a user's files within bounds, and crash-safe writes: a reader sees the old file or the
new one, never half of one."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .errors import SoundmatchError

TMP_PREFIX = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, rename it over ``path``.
    The file gets the usual permissions (mkstemp's are owner-only)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX + path.name + ".")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda f: f.write(text.encode()))


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | Path, what: str) -> IO[bytes]:
    """Open a user's file for reading if it is a regular file; else one line naming it. Opened
    without blocking, so a FIFO is refused instead of waiting for a writer forever."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise SoundmatchError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise SoundmatchError(f"{path}: is {_kind(mode)}, expected a {what} file")
    return os.fdopen(fd, "rb")


def check_regular(path: str | Path, what: str) -> Path:
    """``path`` if it is a regular file (a device, FIFO or folder is refused without reading)."""
    open_regular(path, what).close()
    return Path(path)


def read_bounded(path: str | Path, max_bytes: int, what: str) -> bytes:
    """A regular file's bytes, refused unread (one line naming it) if it holds more than
    ``max_bytes``: a user's file never decides how much memory a read takes."""
    with open_regular(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(max_bytes + 1) if size <= max_bytes else b""
    if size > max_bytes or len(data) > max_bytes:
        raise SoundmatchError(f"{path}: {max(size, len(data)):,} bytes, expected a {what} of at "
                              f"most {max_bytes:,}")
    return data


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileSet:
    """Files that belong together (a match's audio, parameters, preset and plot), written so that
    the folder holds the whole new set or the whole old one, never a mix.

    The files are written into a private folder beside their destination (``path(name)``); on a
    clean exit a journal naming that folder is written, the files are renamed into place, and the
    journal is removed, all under a lock on the destination folder, so that two runs writing the
    same names take turns. A run killed while renaming leaves the journal: the next ``FileSet``
    in that folder finishes the renames first (``recover``). A run killed before that leaves only
    its private folder, which the next one removes.
    """

    def __init__(self, folder: str | Path, key: str):
        self.folder, self.key = Path(folder), key
        self.tmp: Path | None = None
        self._hold = None

    def __enter__(self) -> FileSet:
        self.folder.mkdir(parents=True, exist_ok=True)
        with FolderLock(self.folder):
            recover(self.folder)
            self.tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=f"{TMP_PREFIX}{self.key}."))
            # Held while this run writes: ``recover`` removes private folders nobody holds.
            self._hold = open(self.tmp / HOLD, "wb")  # closed in __exit__
            fcntl.flock(self._hold, fcntl.LOCK_EX)
        return self

    def path(self, name: str) -> Path:
        """Where to write the file that will be ``folder/name``."""
        assert self.tmp is not None, "use FileSet as a context manager"
        return self.tmp / name

    def __exit__(self, kind, exc, tb) -> None:
        assert self.tmp is not None and self._hold is not None
        try:
            if kind is None:
                self._commit()
        finally:
            self._hold.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _commit(self) -> None:
        names = sorted(p.name for p in self.tmp.iterdir() if p.name != HOLD)
        for name in names:
            with open(self.tmp / name, "rb") as f:
                os.fsync(f.fileno())
        with FolderLock(self.folder):
            journal = self.folder / f"{TMP_PREFIX}{self.key}{JOURNAL}"
            write_text_atomic(journal, json.dumps({"folder": self.tmp.name, "files": names}))
            _finish(self.folder, journal)


HOLD, JOURNAL, LOCK = ".hold", ".journal", ".soundmatch-lock"


class FolderLock:
    """An exclusive lock on a folder's file sets (released by the kernel if the process dies):
    ``FileSet`` commits under it, and so does whatever summarises the sets in a folder."""

    def __init__(self, folder: Path):
        self.file = open(folder / LOCK, "a+b")  # noqa: SIM115 - closed in __exit__

    def __enter__(self):
        fcntl.flock(self.file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.file.close()


def _finish(folder: Path, journal: Path) -> None:
    """Rename a journalled set's files into place (those still left: a crash may have moved some)
    and remove the journal and the private folder."""
    try:
        record = json.loads(journal.read_text())
        tmp = folder / str(record["folder"])
        names = [str(n) for n in record["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        journal.unlink(missing_ok=True)  # written atomically, so only a foreign file gets here
        return
    for name in names:
        if Path(name).name == name and (tmp / name).exists():
            os.replace(tmp / name, folder / name)
    _fsync_dir(folder)
    journal.unlink(missing_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)


def recover(folder: Path) -> None:
    """Finish the sets a killed run was renaming, and remove private folders that no live run
    holds. Call with the folder's lock held."""
    for journal in folder.glob(f"{TMP_PREFIX}*{JOURNAL}"):
        _finish(folder, journal)
    for tmp in folder.glob(f"{TMP_PREFIX}*"):
        if not tmp.is_dir() or tmp.is_symlink():
            continue
        try:
            with open(tmp / HOLD, "rb") as hold:
                fcntl.flock(hold, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # another run is writing there
        except OSError:
            pass  # no hold file: a set's folder whose writer died before creating it
        shutil.rmtree(tmp, ignore_errors=True)


def folder_beside(dst: Path) -> Path:
    """A new, empty folder beside ``dst`` (with the usual permissions, not mkdtemp's owner-only)
    in which to build what ``replace_folder`` then puts at ``dst``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f"{TMP_PREFIX}{dst.name}."))
    os.chmod(new, 0o777 & ~_umask())
    return new


def replace_folder(new: Path, dst: Path) -> None:
    """Put the folder ``new`` at ``dst``, replacing any folder there: readers see the old folder
    or the new one. On Linux the two are swapped in one step (renameat2 RENAME_EXCHANGE);
    elsewhere the old one is moved aside first, so a crash at that moment leaves it beside."""
    if dst.is_dir() and not dst.is_symlink():
        if _exchange(new, dst):
            shutil.rmtree(new)
            return
        old = dst.with_name(f"{TMP_PREFIX}{dst.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(dst, old)
        os.rename(new, dst)
        shutil.rmtree(old)
    else:
        os.rename(new, dst)


def _exchange(a: Path, b: Path) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
