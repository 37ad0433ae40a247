#!/usr/bin/env python
"""Regenerate the Python code for every .proto under proto/ (recursively).

For each ``proto/**/X.proto`` this writes ``X_pb2.py``, ``X_pb2.pyi`` and ``X_pb2_grpc.py`` next to
it, running ``grpc_tools.protoc`` with ``-I <repo root>`` so that imports between our files are
repo-root paths (``import "proto/milvus/common.proto";`` becomes
``from proto.milvus import common_pb2``) and descriptor file names never clash with other
root-level ``common.proto``/``kv.proto`` files loaded in the same process.

Usage:
    python scripts/gen_protos.py            # regenerate in place
    python scripts/gen_protos.py --check    # regenerate into a temp dir; exit 1 if anything differs
"""

from __future__ import annotations

import argparse
import difflib
import importlib.resources
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = REPO_ROOT / "proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files(root: Path = REPO_ROOT) -> list[Path]:
    """All .proto files under ``root/proto``, as paths relative to ``root``, sorted."""
    return sorted(p.relative_to(root) for p in (root / "proto").rglob("*.proto"))


def generated_files(root: Path) -> list[Path]:
    """All generated files under ``root/proto``, relative to ``root``, sorted."""
    out = []
    for p in (root / "proto").rglob("*"):
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES):
            out.append(p.relative_to(root))
    return sorted(out)


def run_protoc(src_root: Path, out_root: Path, protos: list[Path]) -> None:
    """Compile ``protos`` (relative to ``src_root``) into ``out_root``; raise on failure."""
    from grpc_tools import protoc  # test/dev dependency (grpcio-tools)

    wkt_include = str(importlib.resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{src_root}",
        f"-I{wkt_include}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *[str(p) for p in protos],
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit code {rc}: {' '.join(args)}")


def drop_unnameable_stubs(out_root: Path) -> None:
    """Remove the stub lines of enum values named ``None`` (``PlaceholderType.None``,
    ``DataType.None``): ``None: ...`` is not valid Python, so type checkers could not read the
    .pyi at all. At runtime such a value is only reachable through ``Value("None")``."""
    for stub in (out_root / "proto").rglob("*_pb2.pyi"):
        lines = stub.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.lstrip().startswith("None: ")]
        if kept != lines:
            stub.write_text("".join(kept))


def generate(out_root: Path) -> list[Path]:
    """Generate code for every proto of the repo into ``out_root`` (mirroring proto/)."""
    protos = proto_files()
    if not protos:
        raise RuntimeError(f"no .proto files under {PROTO_DIR}")
    run_protoc(REPO_ROOT, out_root, protos)
    drop_unnameable_stubs(out_root)
    return protos


def check() -> int:
    """Regenerate into a temp dir and compare with the committed files; 0 if identical."""
    with tempfile.TemporaryDirectory(prefix="gen_protos_") as tmp:
        tmp_root = Path(tmp)
        generate(tmp_root)
        fresh = set(generated_files(tmp_root))
        committed = set(generated_files(REPO_ROOT))
        problems: list[str] = []
        for rel in sorted(fresh - committed):
            problems.append(f"missing (not generated/committed): {rel}")
        for rel in sorted(committed - fresh):
            problems.append(f"stale (no .proto generates it): {rel}")
        for rel in sorted(fresh & committed):
            new = (tmp_root / rel).read_text().splitlines(keepends=True)
            old = (REPO_ROOT / rel).read_text().splitlines(keepends=True)
            if new != old:
                diff = list(difflib.unified_diff(old, new, f"committed/{rel}", f"fresh/{rel}", n=1))
                changed = sum(1 for d in diff if d[:1] in "+-" and not d.startswith(("+++", "---")))
                problems.append(f"differs: {rel} ({changed} changed lines)")
                problems.extend("    " + d.rstrip("\n") for d in diff[:20])
                if len(diff) > 20:
                    problems.append(f"    ... ({len(diff) - 20} more diff lines)")
    if problems:
        print("generated proto code is out of date; run `python scripts/gen_protos.py`:")
        print("\n".join(problems))
        return 1
    print(f"generated proto code is up to date ({len(fresh)} files)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temp dir and exit 1 if it differs from the committed code",
    )
    args = parser.parse_args(argv)
    if args.check:
        return check()
    with tempfile.TemporaryDirectory(prefix="gen_protos_") as tmp:
        tmp_root = Path(tmp)
        protos = generate(tmp_root)
        fresh = generated_files(tmp_root)
        # remove generated files whose .proto is gone, then copy the fresh ones in place
        for rel in set(generated_files(REPO_ROOT)) - set(fresh):
            (REPO_ROOT / rel).unlink()
            print(f"removed stale {rel}")
        for rel in fresh:
            dst = REPO_ROOT / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp_root / rel, dst)
    print(f"generated {len(fresh)} files from {len(protos)} .proto files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
