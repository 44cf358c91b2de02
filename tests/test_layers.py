"""The layer rules of DESIGN.md, checked on the source: who may import what."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "tensorbridge"


def _imports(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against the package)."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    else:
        parts.pop()  # the module itself: relative imports resolve from its package
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            mod = ".".join([*base, *([node.module] if node.module else [])])
            names.add(mod)
            names.update(f"{mod}.{a.name}" for a in node.names)
    return names


def _sources() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if not p.name.endswith("_pb2.py"))


def _where(path: Path) -> str:
    return path.relative_to(PKG).as_posix()


def _hits(names: set[str], prefix: str) -> bool:
    return any(n == prefix or n.startswith(prefix + ".") for n in names)


RULES = [
    # (forbidden import, allowed only under these paths)
    ("onnx", ("converters/onnx/", "runtime/", "passes/fold_constants")),
    ("onnxruntime", ("converters/onnx/", "runtime/", "passes/fold_constants")),
    ("networkx", ("ir/analysis.py",)),
    ("tensorbridge.protos", ("converters/savedmodel/", "protos/")),
    ("google.protobuf", ("converters/savedmodel/", "converters/onnx/", "protos/")),
    # the optional TF runner of `check`, inside a function (test_tensorflow_only_imported_lazily)
    ("tensorflow", ("runtime/tf_runner.py",)),
]


@pytest.mark.parametrize("path", _sources(), ids=_where)
def test_import_rules(path):
    names = _imports(path)
    where = _where(path)
    for module, allowed in RULES:
        if _hits(names, module):
            assert where.startswith(allowed), f"{where} imports {module}"


@pytest.mark.parametrize("path", [p for p in _sources() if _where(p).startswith("ir/")], ids=_where)
def test_ir_imports_nothing_above_it(path):
    names = _imports(path)
    for upper in ("converters", "passes", "runtime", "api", "cli", "protos"):
        assert not _hits(names, f"tensorbridge.{upper}"), f"{_where(path)} imports {upper}"


def test_cli_only_calls_the_api():
    names = {n for n in _imports(PKG / "cli.py") if n.startswith("tensorbridge")}
    allowed = {"tensorbridge", "tensorbridge.api", "tensorbridge.errors"}
    assert {n.rsplit(".", 1)[0] if n not in allowed else n for n in names} <= allowed


def test_tensorflow_only_imported_lazily():
    """Converting never needs TensorFlow: no module imports it at module level."""
    for path in _sources():
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
        assert not _hits(names, "tensorflow"), _where(path)


def test_converters_never_import_passes():
    for path in (PKG / "converters").rglob("*.py"):
        assert not _hits(_imports(path), "tensorbridge.passes"), _where(path)
