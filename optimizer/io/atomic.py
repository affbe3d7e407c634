"""One atomic writer: folders and files appear whole or not at all, signals deferred meanwhile.

:func:`atomic_output_dir` (a whole result folder), :func:`atomic_write` and its
``_text``/``_bytes`` forms (one file), :func:`atomic_write_files` (some files of a folder).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import OutputError


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or another signal) turned into an exception, so cleanup runs as for Ctrl-C.

    The command line exits with ``128 + signum`` (143 for SIGTERM).
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"received signal {self.signum}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Interrupted` so cleanup runs for both Ctrl-C and kill.

    Does nothing when another SIGTERM handler is installed (e.g. by the
    command line, which wraps every command in this) or off the main thread.
    """
    if os.name != "posix" or signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        yield
        return

    def _raise(
        signum: int, _frame: FrameType | None
    ) -> None:  # pragma: no cover - exercised by the interrupt test in a subprocess
        raise Interrupted(signum)

    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_deferred_signals = sigterm_as_interrupt  # former name


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C / SIGTERM during a few file-system steps that must not be split.

    A signal that arrives inside the block is remembered and re-raised when
    the block ends (as KeyboardInterrupt / :class:`Interrupted`), so e.g. the
    rename of the finished folder into place happens completely or not at all.
    Python runs signal handlers only in the main thread; elsewhere nothing is
    needed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    signums = [signal.SIGINT] + ([signal.SIGTERM] if os.name == "posix" else [])
    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}
    for signum in signums:
        previous[signum] = signal.getsignal(signum)
        if previous[signum] in (signal.SIG_IGN,):
            continue
        signal.signal(signum, lambda n, _frame: pending.append(n))
    try:
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler if handler is not None else signal.SIG_DFL)
    if pending:  # deliver the first signal now, to the handler that was in place
        first = pending[0]
        handler = previous.get(first)
        if callable(handler):
            handler(first, None)  # default_int_handler raises KeyboardInterrupt; ours raises Interrupted
        elif first == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise Interrupted(first)


def cannot_create_output(exc: OSError, out_dir: Path) -> OutputError:
    """The error for an output folder (``--out``) that cannot be created."""
    return OutputError(
        f"cannot create the output folder ({exc.strerror or exc})",
        file=out_dir,
        hint="choose another --out folder, in a folder you can write to",
    )


@contextmanager
def atomic_output_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``out_dir`` in one rename.

    On any exception (including KeyboardInterrupt / SIGTERM) the temporary
    folder is removed and ``out_dir`` is left as it was. Creating the
    temporary folder and swapping it into place are shielded from signals,
    so an interrupt leaves either the earlier folder or the complete new one,
    and no temporary folder behind (short of SIGKILL or power loss).
    """
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_create_output(exc, out_dir) from None
    tmp: Path | None = None
    with sigterm_as_interrupt():
        try:
            with _interrupts_deferred():
                try:
                    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
                except OSError as exc:
                    raise cannot_create_output(exc, out_dir) from None
                # mkdtemp makes the folder private (0700); the result folder is
                # meant to be shared like any other, so apply the user's umask.
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o777 & ~umask)
            yield tmp
            with _interrupts_deferred():
                old = None
                if out_dir.exists():
                    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
                    os.replace(out_dir, old)
                try:
                    os.replace(tmp, out_dir)
                except BaseException:
                    if old is not None:
                        os.replace(old, out_dir)
                    raise
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temporary file in the same folder and one rename.

    The temporary name is unique per process and call (several writers may
    fill one folder) and the file is created by ``write`` itself, so it gets
    the usual permissions. On any exception (including KeyboardInterrupt) the
    temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    write : callable
        Called with the temporary path; writes the whole file there.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_files(
    folder: str | os.PathLike[str],
    write: Callable[[Path], list[str]],
    *,
    cannot_stage: Callable[[OSError], BaseException],
    prefix: str = ".staged-",
) -> list[str]:
    """Write some files of ``folder`` anew, each replaced in one rename; on any error none changes.

    ``write`` fills a hidden temporary folder inside ``folder`` and returns the
    names (relative paths) it wrote there; each is then moved to the same
    place in ``folder``. Other files of ``folder`` are left alone. The
    temporary folder is removed in every case.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder whose files are replaced.
    write : callable
        Called with the temporary folder; returns the names written in it.
    cannot_stage : callable
        Makes the error raised when the temporary folder cannot be created.
    prefix : str
        Start of the temporary folder's name.

    Returns
    -------
    list of str
        The names ``write`` returned, now in place in ``folder``.
    """
    folder = Path(folder)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    except OSError as exc:
        raise cannot_stage(exc) from exc
    try:
        written = write(tmp)
        for name in written:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / name, target)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
