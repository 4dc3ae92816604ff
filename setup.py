"""Build steps pyproject.toml cannot express: the wheel carries the data and the map assets.

An installed kgspatial needs layers/ (taxonomy, province profiles, rules, demo province) and the
Leaflet files map.html inlines, which live beside the package in the source tree (layers/ and
node_modules/ from `npm ci`).  `build_py` copies them into kgspatial/_bundled/ of the wheel, and
`sdist` into the source archive, so `python -m build` (wheel built from the sdist) works too.
Editable installs skip the copy: they read the source tree's folders, as before.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from kgspatial.assets import bundle_files  # noqa: E402  (stdlib only)


def _data_files() -> list[tuple[Path, str]]:
    """(source file, path relative to the source root) for everything bundled."""
    found = []
    for path in sorted((ROOT / "layers").rglob("*")):
        rel = path.relative_to(ROOT)
        if path.is_file() and not any(part.startswith((".", "__pycache__")) for part in rel.parts):
            found.append((path, rel.as_posix()))
    if not found:
        raise SystemExit("setup.py: layers/ is missing or empty / thiếu thư mục layers/")
    try:
        assets = bundle_files(ROOT / "node_modules")
    except Exception as exc:  # AssetsMissing: the message names `npm ci`
        raise SystemExit(f"setup.py: {exc}") from None
    found += [(ROOT / "node_modules" / rel, f"node_modules/{rel}") for rel in assets]
    return found


def _copy(files: list[tuple[Path, str]], dest: Path) -> None:
    for src, rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)


class BuildPyWithData(build_py):
    """build_py, then layers/ and the map's node_modules files into kgspatial/_bundled/."""

    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):
            dest = Path(self.build_lib) / "kgspatial" / "_bundled"
            shutil.rmtree(dest, ignore_errors=True)  # a reused build/ must not keep files layers/ dropped
            _copy(_data_files(), dest)


class SdistWithData(sdist):
    """sdist, with layers/ and the map's node_modules files at their source-tree paths."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _copy(_data_files(), Path(base_dir))


setup(cmdclass={"build_py": BuildPyWithData, "sdist": SdistWithData})
