"""One exception for every user mistake, one for a failed gate, and the top-level handler that prints them.

Exit codes (documented in the README, for CI scripts):
  0    success
  2    bad usage or bad input (SegdeployError, argparse errors, OS errors on a named path)
  3    a gate failed: export parity, an accuracy budget, a verification (GateFailed)
  130  interrupted (Ctrl-C)
  1    a bug in segdeploy: any other exception, reported on one line (`--debug` shows the traceback)
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USER_ERROR = 2
EXIT_GATE_FAILED = 3
EXIT_INTERRUPTED = 130


class SegdeployError(Exception):
    """A user-facing error: one line saying which file or option is wrong, and how.

    Raise it with the offending path first, e.g. `SegdeployError.at(path, "expected 3,000,000 bytes, got 12")`.
    """

    exit_code = EXIT_USER_ERROR

    @classmethod
    def at(cls, where: str | Path, what: str) -> "SegdeployError":
        return cls(f"{where}: {what}")


class GateFailed(SegdeployError):
    """The run worked but its result failed a check the user asked for (parity, accuracy budget)."""

    exit_code = EXIT_GATE_FAILED


# What to do about the OS errors a writing command meets, by errno.
_OS_ADVICE = {
    errno.ENOSPC: "no space left on the device; free some space or choose another output folder",
    errno.EDQUOT: "disk quota exceeded; free some space or choose another output folder",
    errno.EROFS: "the file system is read-only; choose a writable output folder",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "operation not permitted; choose a folder you can write to",
    errno.EEXIST: "already exists and is in the way; remove it or choose another name",
    errno.ENOTDIR: "a path component is a file, not a folder; choose another path",
    errno.EISDIR: "is a folder where a file is expected",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) or use fewer workers",
}


def describe_os_error(err: OSError) -> str:
    """One line naming the path an OSError is about and what to do."""
    where = err.filename if err.filename is not None else "segdeploy"
    if err.filename2 is not None:
        where = f"{err.filename} -> {err.filename2}"
    advice = _OS_ADVICE.get(err.errno or -1, err.strerror or str(err))
    return f"{where}: {advice}"


@contextlib.contextmanager
def naming_path(path: str | Path) -> Iterator[None]:
    """Re-raise an OSError from the block as one about `path` when it names no file, or only the
    temporary file beside `path`: a write into an open file (ENOSPC on write, fsync, close) names none."""
    try:
        yield
    except OSError as err:
        temporary = err.filename is not None and Path(err.filename).name.startswith(f".{Path(path).name}.")
        if err.filename is not None and not temporary:
            raise
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def run_and_report(main: Callable[[], int], debug: bool) -> int:
    """Run `main`; turn every exception into one line on stderr and its exit code (see the module doc)."""
    try:
        return main()
    except SegdeployError as err:
        if debug:
            raise
        _print(one_line(str(err)))
        return err.exit_code
    except KeyboardInterrupt:
        _print("interrupted; finished files are kept, rerun with --resume")
        return EXIT_INTERRUPTED
    except OSError as err:
        if debug:
            raise
        _print(one_line(describe_os_error(err)))
        return EXIT_USER_ERROR
    except MemoryError:
        if debug:
            raise
        _print("out of memory: use a smaller --batch or --input-size, or fewer --workers")
        return EXIT_USER_ERROR
    except Exception as err:  # a bug: still one line, with where to look
        if debug:
            raise
        detail = one_line(str(err))[:300] or "no message"
        _print(f"internal error (a bug in segdeploy): {type(err).__name__}: {detail}; "
               "rerun with --debug for the traceback")
        return EXIT_BUG


def _print(message: str) -> None:
    try:
        print(f"segdeploy: error: {message}", file=sys.stderr, flush=True)
    except OSError:  # stderr itself is gone (closed pipe): nothing more can be said
        pass
