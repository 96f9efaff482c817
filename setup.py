"""Build hook only; all project configuration lives in pyproject.toml.

Before setuptools looks at the packages, generate the gRPC contract's Python
code from `proto/` into `yuqing/_generated/` (see yuqing/proto/build.py), so
sdists, wheels and editable installs all carry it. `egg_info` runs first in
every build and already lists the packages; `build_py` checks once more. The
generator is loaded by path because the package is not importable yet.
"""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info

ROOT = Path(__file__).resolve().parent


def generate_contract() -> None:
    """Regenerate `yuqing/_generated/` when it does not match `proto/`."""
    spec = importlib.util.spec_from_file_location("_yuqing_proto_build", ROOT / "yuqing" / "proto" / "build.py")
    proto_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proto_build)
    out_dir = ROOT / "yuqing" / "_generated"
    if proto_build.is_stale(ROOT / "proto", out_dir):
        proto_build.generate(ROOT / "proto", out_dir)


class EggInfoWithProto(egg_info):
    def run(self):
        generate_contract()
        super().run()


class BuildPyWithProto(build_py):
    def run(self):
        generate_contract()
        super().run()


setup(cmdclass={"egg_info": EggInfoWithProto, "build_py": BuildPyWithProto})
