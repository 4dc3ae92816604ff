"""Every bad input of CONTRACT §1: exit code 2, a one-line reason, and --out left as it was."""

from __future__ import annotations

import zipfile

import pytest

from kgspatial.cli import main
from tests import geoms


@pytest.fixture()
def scene(tmp_path):
    geoms.master_frame().to_file(tmp_path / "master.gpkg")
    plan = geoms.plan_frame()
    plan.to_file(tmp_path / "plan.gpkg")
    plan.iloc[[0, 3, 4]].to_file(tmp_path / "plan.shp", encoding="utf-8")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous results")
    return tmp_path


def run(scene, capsys, *extra, plan="plan.gpkg"):
    argv = [
        "check",
        "--master",
        str(scene / "master.gpkg"),
        "--plan",
        str(scene / plan),
        "--rules",
        str(scene / "rules.csv"),
        "--out",
        str(scene / "out"),
        "-q",
        *extra,
    ]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    return code, err


def assert_untouched(scene):
    assert sorted(p.name for p in (scene / "out").iterdir()) == ["keep.txt"]
    assert not [p for p in scene.iterdir() if p.name.startswith(".out.")]


def test_no_crs(scene, capsys):
    for ext in (".prj",):
        (scene / f"plan{ext}").unlink()
    code, err = run(scene, capsys, plan="plan.shp")
    assert code == 2
    assert "no coordinate reference system" in err and "--assume-crs" in err
    assert err.count("\n") == 0
    assert_untouched(scene)


def test_no_crs_with_assume_crs_works(scene, capsys):
    (scene / "plan.prj").unlink()
    code, _ = run(scene, capsys, "--assume-crs", "EPSG:9207", plan="plan.shp")
    assert code == 1
    assert (scene / "out" / "conflicts.gpkg").exists()


def test_plan_with_a_wrong_prj_is_refused_with_the_crs_it_fits(scene, capsys):
    """A .prj saying UTM 48N on VN-2000 TM-3 coordinates puts the plan tens of km away: a run that
    found 'no conflict' there would be a false all-clear.  Exit 2, and name the CRS that fits."""
    import geopandas as gpd

    gpd.read_file(scene / "plan.gpkg").set_crs("EPSG:32648", allow_override=True).to_file(scene / "utm.gpkg")
    code, err = run(scene, capsys, plan="utm.gpkg")
    assert code == 2
    assert "lies entirely outside the master plan" in err
    assert "read as EPSG:32648" in err and "if they were in EPSG:9207" in err
    assert err.count("\n") == 0
    assert_untouched(scene)


def test_metres_declared_as_degrees(scene, capsys):
    import geopandas as gpd

    gpd.read_file(scene / "plan.gpkg").set_crs("EPSG:4326", allow_override=True).to_file(scene / "deg.gpkg")
    code, err = run(scene, capsys, plan="deg.gpkg")
    assert code == 2
    assert "deg.gpkg" in err and "EPSG:4326" in err and "if they were in EPSG:9207" in err
    assert "are not degrees" in err and "Proj" not in err  # said plainly, not PROJ's "Invalid latitude"
    assert "remove the .prj" not in err and "export it again" in err  # a GeoPackage has no .prj
    assert_untouched(scene)


def test_latitude_and_longitude_swapped(scene, capsys):
    import geopandas as gpd
    import shapely

    plan = gpd.read_file(scene / "plan.gpkg").to_crs("EPSG:4326")
    plan.geometry = shapely.transform(plan.geometry.values, lambda xy: xy[:, ::-1])  # (lat, lon) as (x, y)
    plan.to_file(scene / "swapped.gpkg")
    code, err = run(scene, capsys, plan="swapped.gpkg")
    assert code == 2 and "latitude and longitude in the wrong order" in err and "x = 9.9" in err
    assert_untouched(scene)
    (scene / "plan.prj").unlink()
    code, err = run(scene, capsys, "--assume-crs", "EPSG:4326", plan="plan.shp")
    assert code == 2 and "give that to --assume-crs" in err and err.count("\n") == 0


def test_unreadable_file(scene, capsys):
    (scene / "broken.gpkg").write_bytes(b"this is not a geopackage")
    code, err = run(scene, capsys, plan="broken.gpkg")
    assert code == 2 and "cannot read" in err
    assert_untouched(scene)


def test_missing_file(scene, capsys):
    code, err = run(scene, capsys, plan="nothing.gpkg")
    assert code == 2 and "no such file" in err


def test_broken_zip(scene, capsys):
    (scene / "plan.zip").write_bytes(b"PK\x03\x04 truncated")
    code, err = run(scene, capsys, plan="plan.zip")
    assert code == 2 and "zip" in err
    assert_untouched(scene)


def test_zip_without_dbf(scene, capsys):
    with zipfile.ZipFile(scene / "plan.zip", "w") as zf:
        zf.write(scene / "plan.shp", "ranh_gioi/plan.shp")
        zf.write(scene / "plan.shx", "ranh_gioi/plan.shx")
    code, err = run(scene, capsys, plan="plan.zip")
    assert code == 2 and ".dbf" in err


def test_unknown_field(scene, capsys):
    code, err = run(scene, capsys, "--plan-field", "MA_KHONG_CO")
    assert code == 2 and "MA_KHONG_CO" in err and "ma" in err
    assert_untouched(scene)


def test_malformed_rules_lists_every_problem(scene, capsys):
    (scene / "rules.csv").write_text(
        "rule_id,plan_code,master_code,verdict,severity\n"
        "R1,ODT,LUC,conflikt,high\n"
        "R1,XYZ,LUC,conflict,\n"
        "R3,ODT,RPH,conflict,urgent\n",
        encoding="utf-8",
    )
    code, err = run(scene, capsys)
    assert code == 2
    for needle in ("row 2, verdict", "row 3, rule_id", "row 3, plan_code", "row 3, severity", "row 4, severity"):
        assert needle in err
    assert_untouched(scene)


def test_bad_usage_is_exit_2(scene, capsys):
    for argv in (["check", "--master", str(scene / "master.gpkg")], ["check", "--jobs", "0"], ["nope"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("kgspatial: error: ") and err.count("\n") == 1 and "--help)" in err, err


def test_console_script_exit_codes(scene):
    """`python -m kgspatial` (what the installed script runs) leaves through os._exit: its codes,
    messages and outputs must be those of `main`."""
    import subprocess
    import sys

    import pyogrio

    base = [
        sys.executable,
        "-m",
        "kgspatial",
        "check",
        "--master",
        str(scene / "master.gpkg"),
        "--rules",
        str(scene / "rules.csv"),
        "-q",
    ]
    bad = subprocess.run(
        [*base, "--plan", str(scene / "nothing.gpkg"), "--out", str(scene / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "nothing.gpkg: không có tệp này / no such file" in bad.stderr
    assert_untouched(scene)
    good = subprocess.run(
        [*base, "--plan", str(scene / "plan.gpkg"), "--out", str(scene / "fresh")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 1, good.stderr  # conflicts found
    assert "conflict piece(s)" in good.stderr
    assert pyogrio.read_info(scene / "fresh" / "conflicts.gpkg")["features"] > 0
    assert (scene / "fresh" / "summary.json").read_text(encoding="utf-8").endswith("}\n")
    usage = subprocess.run(
        [sys.executable, "-m", "kgspatial", "check", "--no-such-option"], capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == 2
