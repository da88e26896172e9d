"""What made a folder's outputs: a fingerprint recorded in the folder and checked before its outputs are reused.

A command whose outputs can be resumed or reused (`infer --resume`, `preprocess` over an existing
`--out`; training's `--resume` compares its checkpoint's settings the same way) describes what
determines those outputs as a small frozen dataclass with a `KIND` class attribute, saves it as
`<folder>.segdeploy.json` beside the folder it writes, and before reusing anything compares the
saved fields with the current ones: any difference is refused on one line naming the differing
fields. The record sits beside the folder, not in it, so the folder holds only the files the vendor
chain reads and writes (ais_bench inputs, its `<stem>_0.bin` outputs). Files are identified by
content (sha256), never by path, so a renamed copy matches and an overwritten file does not.

    fingerprint.save(run_dir, InferFingerprint(...))             # a new run: writes <run_dir>.segdeploy.json
    fingerprint.require_same(run_dir, InferFingerprint(...))     # --resume: refuses a mismatch
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from segdeploy.errors import SegdeployError
from segdeploy.reporting.atomic import write_json_atomic

RECORD_SUFFIX = ".segdeploy.json"
_SHOWN_CHARS = 12  # of a digest in a message: enough to tell two files apart
_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file's bytes, read in chunks (checkpoints are gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_file_sha256(path: str | Path) -> str:
    """`file_sha256` of a model file; an OpenVINO IR (.xml) is hashed with the .bin of its weights."""
    path = Path(path)
    weights = path.with_suffix(".bin")
    if path.suffix != ".xml" or not weights.is_file():
        return file_sha256(path)
    return listing_sha256([file_sha256(path), file_sha256(weights)])


def listing_sha256(entries: Iterable[Any]) -> str:
    """The sha256 of a list of JSON-able entries, e.g. (name, byte size) of every input file, in order."""
    return hashlib.sha256(json.dumps(list(entries), default=str).encode()).hexdigest()


def to_json(fingerprint: Any) -> dict[str, Any]:
    """`{"kind": KIND, field: value, ...}` of a fingerprint dataclass; tuples become lists, as JSON has them."""
    return json.loads(json.dumps({"kind": type(fingerprint).KIND, **dataclasses.asdict(fingerprint)}))


def check(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The names of the fields whose values differ (a field present on one side only differs too)."""
    return [key for key in dict.fromkeys([*wanted, *saved]) if saved.get(key) != wanted.get(key)]


def describe_differences(saved: Mapping[str, Any], wanted: Mapping[str, Any], fields: Iterable[str]) -> str:
    """`batch: 1 -> 2; weights: 3f2a9c01d2e4 -> 77b0e1aa4c2d`: saved value, then the current one."""
    return "; ".join(f"{key}: {_short(saved.get(key))} -> {_short(wanted.get(key))}" for key in fields)


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:_SHOWN_CHARS]  # a sha256
    return "none" if value is None else str(value)


def record_path(folder: Path) -> Path:
    """`<folder>.segdeploy.json`, beside `folder`."""
    folder = Path(folder).absolute()
    return folder.with_name(folder.name + RECORD_SUFFIX)


def has_record(folder: Path) -> bool:
    return record_path(folder).is_file()


def save(folder: Path, fingerprint: Any, **extra: Any) -> Path:
    """Write the record of `folder` atomically: the fingerprint, plus any `extra` top-level keys."""
    return write_json_atomic(record_path(folder), {"fingerprint": to_json(fingerprint), **extra})


def load(folder: Path, kind: str) -> dict[str, Any]:
    """The whole record of a folder written by a `kind` command; one-line errors otherwise."""
    path = record_path(folder)
    if not path.is_file():
        raise SegdeployError.at(folder, f"not a folder written by `segdeploy {kind}` (no {path.name} beside it)")
    try:
        record = json.loads(path.read_bytes())
        found = record["fingerprint"]["kind"]
    except (ValueError, KeyError, TypeError):
        raise SegdeployError.at(path, "damaged: not a segdeploy fingerprint record") from None
    if found != kind:
        raise SegdeployError.at(folder, f"was written by `segdeploy {found}`, not `segdeploy {kind}`")
    return record


def require_same(folder: Path, fingerprint: Any, advice: str = "start a new run") -> dict[str, Any]:
    """Refuse to reuse `folder` unless it was made with exactly these settings; returns its record."""
    record = load(folder, type(fingerprint).KIND)
    saved, wanted = record["fingerprint"], to_json(fingerprint)
    differing = check(saved, wanted)
    if differing:
        raise SegdeployError.at(folder, f"was made with other settings ({describe_differences(saved, wanted, differing)}); "
                                        f"{advice}")
    return record
