"""The package's dependency structure: no import cycles, imports at the top, a CLI that starts without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import segdeploy

PACKAGE = Path(segdeploy.__file__).parent

# Function-local imports allowed because they defer a heavy or optional dependency (each says so).
# segdeploy's own modules may be imported locally only by the CLI (which starts without torch).
DEFERRED = ("torch", "openvino", "nncf", "onnxruntime.quantization", "onnxslim", "matplotlib", "segdeploy")


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def _top_level_imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """segdeploy modules imported when this module is imported (TYPE_CHECKING blocks excluded)."""
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            # importing a.b.c imports the packages a and a.b first
            parts = name.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules)
    return found


def test_no_import_cycles():
    trees = _modules()
    graph = {name: _top_level_imports(tree, set(trees)) - {name} for name, tree in trees.items()}
    # a package importing its own submodules is how packages work; a cycle through modules is not
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if dep.startswith(node + "."):
                continue
            if state.get(dep) == 1 and not node.startswith(dep + "."):
                cycles.append(stack[stack.index(dep):] + [dep] if dep in stack else [node, dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, f"import cycles: {cycles}"


def _module_level(tree: ast.Module) -> set[int]:
    """Imports run at import time, plus those under `if TYPE_CHECKING:` (typing only)."""
    nodes = list(tree.body)
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            nodes += node.body
    return set(map(id, nodes))


def test_local_imports_only_defer_heavy_or_optional_dependencies():
    offenders = []
    for name, tree in _modules().items():
        module_level = _module_level(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in module_level:
                continue
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            own = (module or "").startswith("segdeploy")
            if not (module or "").startswith(DEFERRED) or (own and name != "segdeploy.cli"):
                offenders.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert not offenders, "function-local imports that defer nothing heavy:\n" + "\n".join(offenders)


def test_cli_help_starts_without_torch():
    code = ("import sys\nfrom segdeploy.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
