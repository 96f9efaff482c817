"""Generate the Python code of the gRPC contract from `proto/` into `yuqing/_generated/`.

`proto/yuqing/v1/*.proto` is the single source of the contract; the modules in
`yuqing/_generated/v1/` are built from it (by `setup.py` during a wheel or
editable build, and again by `ensure_generated` in a source checkout whenever
a `.proto` file changed) and never edited by hand. protoc writes absolute
imports (`from yuqing.v1 import activation_pb2`); they are made relative so
the modules work from `yuqing._generated.v1` while the descriptors keep their
canonical file names (`yuqing/v1/activation.proto`).

This module imports nothing from `yuqing`, so `setup.py` can load it by path
before the package is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

PROTO_SUBDIR = Path("yuqing") / "v1"
STAMP = "SOURCE_SHA256"
_ABSOLUTE_IMPORT = re.compile(r"^from yuqing\.v1 import ", re.MULTILINE)


def generated_dir() -> Path:
    """Where the generated package lives: `yuqing/_generated/`."""
    return Path(__file__).resolve().parent.parent / "_generated"


def repo_proto_root() -> Path | None:
    """`proto/` of the source checkout this package runs from; None in an installed wheel."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "proto" / PROTO_SUBDIR).is_dir():
        return root / "proto"
    return None


def proto_sources(proto_root: Path) -> list[Path]:
    """The contract's `.proto` files, relative to `proto_root`, sorted."""
    return sorted(p.relative_to(proto_root) for p in (proto_root / PROTO_SUBDIR).glob("*.proto"))


def source_fingerprint(proto_root: Path) -> str:
    """SHA-256 over the names and contents of the `.proto` files."""
    digest = hashlib.sha256()
    for rel in proto_sources(proto_root):
        digest.update(rel.as_posix().encode() + b"\0" + (proto_root / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def is_stale(proto_root: Path, out_dir: Path | None = None) -> bool:
    """True when the generated code is missing or was built from other `.proto` contents."""
    stamp = (out_dir or generated_dir()) / STAMP
    try:
        return stamp.read_text().strip() != source_fingerprint(proto_root)
    except OSError:
        return True


def generate(proto_root: Path, out_dir: Path | None = None) -> list[Path]:
    """Run protoc (grpcio-tools) over `proto_root` into `out_dir`; the files written."""
    out_dir = out_dir or generated_dir()
    try:
        from grpc_tools import protoc
    except ImportError as err:
        raise RuntimeError(
            "generating the gRPC code needs grpcio-tools: pip install 'grpcio-tools>=1.66' "
            "(it is in the dev extra and the build requirements)"
        ) from err
    sources = proto_sources(proto_root)
    if not sources:
        raise RuntimeError(f"no .proto files under {proto_root / PROTO_SUBDIR}")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out_dir), tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".gen-") as tmp:
        include = Path(protoc.__file__).resolve().parent / "_proto"
        args = [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *(str(proto_root / rel) for rel in sources),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {proto_root}; see the messages above")
        built = Path(tmp) / PROTO_SUBDIR
        staged = Path(tmp) / "_staged"
        (staged / "v1").mkdir(parents=True)
        (staged / "__init__.py").write_text('"""Generated from proto/ by yuqing.proto.build; do not edit."""\n')
        (staged / "v1" / "__init__.py").write_text('"""Generated from proto/yuqing/v1; do not edit."""\n')
        for path in sorted(built.iterdir()):
            text = _ABSOLUTE_IMPORT.sub("from . import ", path.read_text(encoding="utf-8"))
            if re.search(r"^(from|import) yuqing\.", text, re.MULTILINE):
                raise RuntimeError(f"unexpected import of yuqing in generated {path.name}")
            (staged / "v1" / path.name).write_text(text, encoding="utf-8")
        (staged / STAMP).write_text(source_fingerprint(proto_root) + "\n")
        written = []
        for path in sorted(staged.rglob("*")):
            if path.is_file():
                target = out_dir / path.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                written.append(target)
        for old in (out_dir / "v1").iterdir():
            if old.is_file() and old not in written:
                old.unlink()
        shutil.rmtree(out_dir / "v1" / "__pycache__", ignore_errors=True)
    return written


def ensure_generated() -> Path:
    """Make sure `yuqing/_generated/` matches `proto/`; regenerate in a checkout when it does not."""
    out_dir = generated_dir()
    proto_root = repo_proto_root()
    if proto_root is not None and is_stale(proto_root, out_dir):
        generate(proto_root, out_dir)
    elif not (out_dir / "v1" / "action_bus_pb2_grpc.py").is_file():
        raise RuntimeError(
            f"the generated gRPC code is missing from {out_dir}; reinstall yuqing-radar "
            "(the build generates it from proto/)"
        )
    return out_dir


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Serialise generators across processes (tests, workers) with a lock file beside the output."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: best effort without a lock
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


if __name__ == "__main__":
    root = repo_proto_root()
    if root is None:
        raise SystemExit("run this from a source checkout: proto/ was not found")
    for written in generate(root):
        print(written)
