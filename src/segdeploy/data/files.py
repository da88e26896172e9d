"""A user's file read whole, or one line naming it and what is wrong."""

from __future__ import annotations

from pathlib import Path

from segdeploy.errors import SegdeployError


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SegdeployError.at(path, "no such file") from None
    except OSError as err:
        raise SegdeployError.at(path, f"cannot read ({err.strerror or err})") from None
