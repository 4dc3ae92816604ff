"""The CLI on broken geometry: exit 2 with one line on stderr, nothing written (issue 12, part 8)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import shapely

from tests import geoms


@pytest.fixture()
def files(tmp_path):
    geoms.master_frame().to_file(tmp_path / "master.gpkg")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    return tmp_path


def _check(files, plan_geometry, name):
    plan = geoms.plan_frame().iloc[[0]].copy()
    plan["geometry"] = [plan_geometry]
    plan.to_file(files / f"{name}.gpkg")
    out = files / f"out-{name}"
    run = subprocess.run([sys.executable, "-m", "kgspatial", "check", "--master", str(files / "master.gpkg"),
                          "--plan", str(files / f"{name}.gpkg"), "--rules", str(files / "rules.csv"),
                          "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=120)
    return run, out


def test_nan_coordinates_are_one_line_and_exit_2(files):
    nan = float("nan")
    run, out = _check(files, shapely.Polygon([(560010, 1100025), (nan, 1100025), (560100, 1100100)]), "toa_do_nan")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "toa_do_nan.gpkg" in lines[0] and "not numbers" in lines[0]
    assert "site-packages" not in run.stderr and "Warning" not in run.stderr
    assert not out.exists()


def test_a_plan_of_one_degenerate_ring_is_not_zero_conflicts(files):
    ring = shapely.from_wkt("POLYGON ((560010 1100025, 560100 1100025, 560010 1100025))")
    run, out = _check(files, ring, "vong_suy_bien")
    assert run.returncode == 2, (run.returncode, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "vong_suy_bien.gpkg" in lines[0] and "no area" in lines[0]
    assert not out.exists()
