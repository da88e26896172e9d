"""One self-contained HTML page: inline CSS, images embedded as base64 PNG, no script, no external asset."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
tr.chosen td { background: #e6f4ea; font-weight: bold; } tr.failed td { color: #b00020; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; }
pre { padding: 0.8em; overflow-x: auto; white-space: pre-wrap; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; max-width: 900px; }
img { max-width: 100%; height: auto; }
"""


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def image(png: bytes, alt: str, caption: str = "") -> str:
    """A figure holding `png` as a data URI, with its caption."""
    data = base64.b64encode(png).decode("ascii")
    figcaption = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}">{figcaption}</figure>'


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], row_classes: Sequence[str] = ()) -> str:
    """An HTML table; `row_classes[i]` (e.g. "chosen", "failed") styles row i."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = row_classes[i] if i < len(row_classes) and row_classes[i] else ""
        cells = "".join(f"<td>{escape(cell)}</td>" for cell in row)
        body.append(f'<tr class="{css}">{cells}</tr>' if css else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def preformatted(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{''.join(parts)}</section>"


def document(title: str, *parts: str) -> str:
    """The whole page; `parts` are already HTML (from the functions above)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{''.join(parts)}</body></html>\n")
