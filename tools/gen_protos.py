"""Regenerate tensorbridge/protos/*_pb2.py and *_pb2.pyi from tensorbridge/protos/*.proto.

Generator: grpcio-tools 1.85.1 (`python -m grpc_tools.protoc`, bundled libprotoc 35.1).
The generated modules call ValidateProtobufRuntimeVersion(PUBLIC, 7, 35, 1), so they need the
`protobuf>=7.35.1` runtime (same major version 7; an older runtime refuses to import them).

Usage:
    python tools/gen_protos.py            # rewrite the generated files in the tree
    python tools/gen_protos.py --check    # exit 1 (listing the files) if the tree is stale

Output is deterministic: protoc runs with paths relative to the repository root (so no
absolute paths leak into the files), on a sorted list of inputs, and stale *_pb2 files whose
.proto is gone are removed (or reported by --check). Regenerate with the version above: other
protoc versions write a different runtime-version check and differ byte-wise.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.metadata
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_REL = Path("tensorbridge") / "protos"
PROTO_DIR = ROOT / PROTO_REL
GRPCIO_TOOLS_VERSION = "1.85.1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi")

log = logging.getLogger("gen_protos")


def proto_files() -> list[str]:
    """The .proto inputs, relative to ROOT, sorted."""
    return sorted(str(p.relative_to(ROOT)) for p in PROTO_DIR.glob("*.proto"))


def generated_names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}


def run_protoc(out_root: Path) -> Path:
    """Generate into out_root/tensorbridge/protos and return that directory."""
    import grpc_tools  # the well-known types (any.proto, wrappers.proto) ship inside it

    installed = importlib.metadata.version("grpcio-tools")
    if installed != GRPCIO_TOOLS_VERSION:
        log.warning("grpcio-tools %s installed; the committed files come from %s",
                    installed, GRPCIO_TOOLS_VERSION)
    include = Path(grpc_tools.__file__).parent / "_proto"
    cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I.", f"-I{include}",
           f"--python_out={out_root}", f"--pyi_out={out_root}", *proto_files()]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return out_root / PROTO_REL


def differences(fresh: Path, tree: Path) -> list[str]:
    """Generated files that are missing, changed or stale in the tree."""
    want, have = generated_names(fresh), generated_names(tree)
    changed = [n for n in sorted(want & have)
               if not filecmp.cmp(fresh / n, tree / n, shallow=False)]
    missing = [f"{n} (missing)" for n in sorted(want - have)]
    stale = [f"{n} (no .proto)" for n in sorted(have - want)]
    return changed + missing + stale


def write(fresh: Path, tree: Path) -> None:
    for name in sorted(generated_names(tree) - generated_names(fresh)):
        log.info("removing stale %s", name)
        (tree / name).unlink()
    for name in sorted(generated_names(fresh)):
        shutil.copyfile(fresh / name, tree / name)
    log.info("wrote %d files into %s", len(generated_names(fresh)), tree)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare instead of writing; exit 1 if anything differs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = run_protoc(Path(tmp))
        if not args.check:
            write(fresh, PROTO_DIR)
            return 0
        diff = differences(fresh, PROTO_DIR)
    if diff:
        log.error("generated protos are out of date; run tools/gen_protos.py:\n  %s",
                  "\n  ".join(diff))
        return 1
    log.info("generated protos are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
