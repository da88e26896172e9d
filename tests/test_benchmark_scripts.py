"""The benchmark scripts stay runnable: each one imports (its siblings and segdeploy's API) and parses
its flags. They are run by hand on a quiet machine, so nothing else would notice an API they lost."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__"' in p.read_text())


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_imports_and_prints_its_help(script, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import their siblings, as `python benchmarks/x.py`
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    assert done.value.code == 0 and "usage:" in capsys.readouterr().out


def test_every_script_is_covered():
    assert {"bench_engines.py", "bench_e2e.py", "parity.py", "scale_out.py", "bench_decode.py"} <= set(SCRIPTS)
