"""A built wheel works installed away from the source tree: data, map assets, one version.

Before the build step in setup.py, a wheel installed elsewhere exited 2 with "unknown province
profile 'kien-giang'; available: none" and `--map` asked for `npm ci` in a source tree.  The test
builds as a user does (`python -m build`: sdist, then the wheel from the sdist), installs the
wheel into a fresh venv whose dependencies come from this venv through a .pth (offline), and runs
a check with a map from a folder outside the repository.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from kgspatial import __version__
from kgspatial.assets import MAP_ASSETS

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "layers" / "demo"
pytestmark = pytest.mark.slow


def _clean_env() -> dict[str, str]:
    """No setting that would point the installed copy back at the source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGSPATIAL_") and k != "PYTHONPATH"}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    if not (REPO / "node_modules" / "leaflet" / "dist" / "leaflet.js").is_file():
        pytest.fail("node_modules is missing: run `npm ci` (make venv does)")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # No flood of setuptools deprecation notices (the TOML-table licence printed one per step).
    assert "deprecated" not in done.stderr.lower() + done.stdout.lower()
    return out


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True, timeout=120)
    python = home / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies, offline: this venv's site-packages, after the new venv's own.  Its .pth files
    # (the editable kgspatial's finder among them) are not run from a path listed in a .pth.
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "kgspatial-test-deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    wheel = next(dist.glob("kgspatial-*.whl"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_clean_env(),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return home


def test_wheel_and_sdist_carry_the_data_and_map_assets(dist):
    wheel = next(dist.glob("kgspatial-*.whl"))
    assert wheel.name == f"kgspatial-{__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "layers"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(tracked) > 30
    for rel in tracked:  # every file of layers/ the repository holds
        assert f"kgspatial/_bundled/{rel}" in names, rel
    for _, rel in MAP_ASSETS:
        assert f"kgspatial/_bundled/node_modules/{rel}" in names, rel
    assert "kgspatial/_bundled/node_modules/leaflet/dist/images/layers.png" in names  # named by leaflet.css
    assert "kgspatial/_bundled/node_modules/leaflet/LICENSE" in names  # BSD-2: copies keep the notice
    sdist = next(dist.glob("kgspatial-*.tar.gz"))
    members = {m.split("/", 1)[1] for m in tarfile.open(sdist).getnames() if "/" in m}
    assert {"layers/kien-giang/rules.csv", "node_modules/leaflet/dist/leaflet.js", "setup.py"} <= members


def test_installed_wheel_checks_with_a_map_outside_the_repository(venv, tmp_path):
    kgspatial = venv / "bin" / "kgspatial"
    env = _clean_env()
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import kgspatial; print(kgspatial.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the installed copy, not the source tree

    version = subprocess.run([str(kgspatial), "--version"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert version.stdout.strip() == f"kgspatial {__version__}"

    out = tmp_path / "out"
    done = subprocess.run(
        [
            str(kgspatial),
            "check",
            "--master",
            str(DEMO / "master.gpkg"),
            "--plan",
            str(DEMO / "qhc_rach_gia.gpkg"),
            "--plan-id-field",
            "so_hieu",
            "--admin",
            str(DEMO / "communes.gpkg"),
            "--map",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr[-3000:]  # conflicts found (planted), not 2
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["kgspatial_version"] == __version__
    # The profile's rules came from the wheel's copy of layers/.
    rules = Path(summary["rules"]["path"])
    assert rules.is_relative_to(venv) and rules.as_posix().endswith("kgspatial/_bundled/layers/kien-giang/rules.csv")
    assert summary["rules"]["count"] > 200
    # The planted conflict QHC-RG-MR01 (ODT on LUC, 10 ha by construction: layers/demo/planted.csv).
    pieces = json.loads(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import geopandas, json, sys; g = geopandas.read_file(sys.argv[1], layer='conflicts');"
                "print(json.dumps(g[g.plan_feature == 'QHC-RG-MR01'].geometry.area.tolist()))",
                str(out / "conflicts.gpkg"),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
    )
    assert sum(pieces) == pytest.approx(100_000, rel=1e-6)
    page = (out / "map.html").read_text(encoding="utf-8")
    assert 'version = "1.9.4"' in page or "1.9.4" in page  # Leaflet inlined from the wheel's copy
    assert not re.search(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*['\"]?(?:https?:)?//", page, re.I)


def test_version_is_one_number():
    """pyproject reads kgspatial.__version__; the changelog's newest entry names the same."""
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and 'attr = "kgspatial.__version__"' in pyproject
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    changelog = readme.split("## Changelog", 1)[1]
    assert re.search(r"^- (\d+\.\d+\.\d+)", changelog, re.M).group(1) == __version__


def test_docker_image_installs_the_built_wheel():
    """The image builds the wheel from what it copies (no Docker daemon here to build it): every
    COPY source exists, setup.py and node_modules reach the wheel stage, no layers/ path override."""
    text = (REPO / "docker" / "Dockerfile").read_text(encoding="utf-8")
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M):
        for source in line.split()[:-1]:
            assert (REPO / source).exists(), source
    wheel_stage = text.split(" AS wheel", 1)[1].split("\nFROM ", 1)[0]
    assert "setup.py" in wheel_stage and "COPY --from=assets /src/node_modules ./node_modules" in wheel_stage
    assert "KGSPATIAL_LAYERS" not in text
    assert "node_modules" in (REPO / ".dockerignore").read_text(encoding="utf-8")  # built inside, not sent
