"""One exception for every user mistake, and the top-level handler that prints it on one line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

EXIT_USER_ERROR = 2


class SegdeployError(Exception):
    """A user-facing error: one line saying which file or option is wrong, and how.

    Raise it with the offending path first, e.g. `SegdeployError.at(path, "expected 3,000,000 bytes, got 12")`.
    """

    @classmethod
    def at(cls, where: str | Path, what: str) -> "SegdeployError":
        return cls(f"{where}: {what}")


def run_and_report(main: Callable[[], int], debug: bool) -> int:
    """Run `main`; turn SegdeployError (and Ctrl-C) into one line on stderr and exit code 2."""
    try:
        return main()
    except SegdeployError as err:
        if debug:
            raise
        message = " ".join(str(err).split())  # one line, whatever the message held
        print(f"segdeploy: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("segdeploy: interrupted; finished files are kept, rerun with --resume", file=sys.stderr)
        return 130
