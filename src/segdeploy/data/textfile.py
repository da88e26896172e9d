"""Text files users hand in (`.info` lists, split lists): UTF-8 text, or one line naming the file."""

from __future__ import annotations

from pathlib import Path

from segdeploy.data.files import read_bytes
from segdeploy.errors import SegdeployError


def read_text_file(path: Path) -> str:
    """The file's text; binary data (a `.bin` renamed, a damaged copy) is an error, not a UnicodeDecodeError."""
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SegdeployError.at(path, f"not a text file (byte {err.start:,} is not UTF-8)") from None
    if "\x00" in text:
        raise SegdeployError.at(path, f"not a text file (NUL byte at {text.index(chr(0)):,})")
    return text
