"""The one home of output safety: user errors, atomic files and directories, refusal of existing outputs, locks.

Every command writes through these, so a failed or interrupted command leaves what was there before
untouched, an existing output is replaced only when asked (``--overwrite`` / ``--resume``), and a second
writer on the same output is refused while the first holds its lock. Strict JSON (``null`` for a NaN or
an infinity) is written here too. No jax and no other mmjax import: every stage may use it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["UserError", "atomic_write_bytes", "atomic_write_text", "check_range", "dumps_strict", "lock", "publish",
           "read_npz", "refuse_existing", "staged_dir", "write_json", "write_output_json"]


class UserError(ValueError):
    """A mistake in the user's input (a flag, a file, a directory): `mmjax` prints it as one line and exits 2.

    The message names the file, row and field, or the flag, its value and the allowed range. Anything
    else that escapes a command is a bug and keeps its traceback."""


def check_range(owner: str, name: str, value, lo=None, hi=None, *, lo_open: bool = False, hi_open: bool = False,
                flag: bool = True) -> None:
    """Raise UserError "--NAME (OWNER.NAME) must be in RANGE, got VALUE" unless lo <(=) value <(=) hi.

    NaN is always out of range. ``lo_open``/``hi_open`` exclude the bound itself."""
    bad = value != value  # NaN
    if lo is not None and not bad:
        bad = value <= lo if lo_open else value < lo
    if hi is not None and not bad:
        bad = value >= hi if hi_open else value > hi
    if not bad:
        return
    def num(x) -> str:
        return str(x) if isinstance(x, int) else f"{x:g}"

    if lo is not None and hi is not None:
        allowed = f"in {'(' if lo_open else '['}{num(lo)}, {num(hi)}{')' if hi_open else ']'}"
    elif lo is not None:
        allowed = f"{'>' if lo_open else '>='} {num(lo)}"
    else:
        allowed = f"{'<' if hi_open else '<='} {num(hi)}"
    where = f"--{name.replace('_', '-')} ({owner}.{name})" if flag else f"{owner}.{name}"
    raise UserError(f"{where} must be {allowed}, got {value!r}")


def _strict(obj):
    """``obj`` with every non-finite float replaced by None (JSON null), recursively; NumPy scalars become floats."""
    if isinstance(obj, float) or (hasattr(obj, "dtype") and getattr(obj, "ndim", 1) == 0 and obj.dtype.kind == "f"):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # a NumPy array or integer scalar
        return _strict(obj.tolist())
    if not isinstance(obj, str | int | bool | type(None)) and hasattr(obj, "__float__"):  # e.g. a 0-d jax array
        return _strict(float(obj))
    return obj


def dumps_strict(obj, **kwargs) -> str:
    """JSON that strict readers accept: NaN and +-inf become null (never the bare ``NaN`` of `json.dumps`)."""
    return json.dumps(_strict(obj), allow_nan=False, **kwargs)


ZIP_MAGIC = b"PK\x03\x04"  # every .npz is a zip archive


def read_npz(path: str | os.PathLike, what: str, error: type[UserError] = UserError) -> dict:
    """Every array of the .npz ``path`` (never unpickling); ``error`` naming the file and what is wrong with it.

    Random bytes, a truncated download and a foreign file each get their own message (NumPy would call
    random bytes "pickled data")."""
    import zipfile
    import zlib

    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: no such {what} file")
    with open(p, "rb") as f:
        head = f.read(4)
    if head != ZIP_MAGIC:
        raise error(f"{p}: not a {what} .npz (the file does not start with the zip signature: "
                    f"{'empty' if not head else 'another format'})")
    try:
        with np.load(p, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise error(f"{p}: holds pickled (object) arrays; refusing to load a {what}") from None
        raise error(f"{p}: not a readable {what} .npz ({e})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise error(f"{p}: truncated or corrupt {what} .npz ({type(e).__name__}: {e})") from None


def _tmp_sibling(path: Path, kind: str) -> Path:
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary sibling, fsync, and rename it onto ``path``: never a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path, "tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, obj, indent: int | None = 2) -> Path:
    """Strict JSON (`dumps_strict`) written atomically."""
    return atomic_write_text(path, dumps_strict(obj, indent=indent) + "\n")


def refuse_existing(path: str | os.PathLike, overwrite: bool, what: str, how: str = "--overwrite") -> None:
    """UserError if ``path`` exists and is not an empty directory, unless ``overwrite``; the message says how."""
    p = Path(path)
    if overwrite or not (p.exists() or p.is_symlink()):
        return
    if p.is_dir() and not any(p.iterdir()):
        return
    raise UserError(f"{p}: {what} exists; pass {how} to replace it, or pick another output")


def write_output_json(path: str | os.PathLike, obj, overwrite: bool, what: str, indent: int | None = 2) -> Path:
    """A command's JSON output file: `write_json` under its `lock`, refused if it exists unless ``overwrite``.

    Call `refuse_existing` before the work as well, so a refusal costs nothing; this checks again at the
    write, since another command may have written the file meanwhile."""
    with lock(path):
        refuse_existing(path, overwrite, what)
        return write_json(path, obj, indent)


@contextlib.contextmanager
def lock(path: str | os.PathLike, command: str = "mmjax") -> Iterator[Path]:
    """Hold an exclusive lock on output ``path`` (file ``.NAME.lock`` beside it); refuse if another process holds it.

    The lock is an `flock`, so it dies with its process: a killed writer never leaves a stale lock."""
    p = Path(path).resolve()
    existing = next(q for q in p.parents if q.exists())
    if not existing.is_dir():
        raise UserError(f"{p}: cannot write below {existing}: it is a file, not a directory")
    p.parent.mkdir(parents=True, exist_ok=True)
    lock_path = p.with_name(f".{p.name}.lock")
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = lock_path.read_text().strip() if lock_path.exists() else "?"
            raise UserError(f"{p}: another {command} is writing it ({holder}; lock {lock_path}); wait for it to "
                            "finish or pick another output") from None
        try:  # the file we locked may have been unlinked by the previous holder: lock the one on disk
            if os.fstat(fd).st_ino == os.stat(lock_path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        yield lock_path
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()
        os.close(fd)


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike, overwrite: bool = False, what: str = "output directory") -> Iterator[Path]:
    """Build directory ``path`` in a temporary sibling and rename it into place only if the block succeeds.

    An existing non-empty ``path`` is refused unless ``overwrite`` (`refuse_existing`); with it, the old
    directory is swapped out only after the new one is complete. On any failure, Ctrl-C included, the
    sibling is removed and ``path`` is untouched. A second writer is refused while this one holds `lock`."""
    p = Path(path).resolve()
    with lock(p):
        refuse_existing(p, overwrite, what)
        stage = _tmp_sibling(p, "staging")
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        try:
            yield stage
            publish(stage, p)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def publish(stage: Path, path: Path) -> None:
    """Rename the finished directory ``stage`` onto ``path``, replacing (then deleting) what was there."""
    old = _tmp_sibling(path, "old")
    had = path.exists() or path.is_symlink()
    if had:
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old) if path.is_dir() else path.rename(old)
    try:
        os.replace(stage, path)
    except BaseException:
        if had:
            os.replace(old, path)
        raise
    if had:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
