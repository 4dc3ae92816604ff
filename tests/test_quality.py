"""The layers' own defects: figures worked out by hand on tests/geoms.py-style boxes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest

from kgspatial.check import CheckOptions, PlanInput, run_check
from tests.geoms import CRS, RULES_CSV, box, line


def run(tmp_path, master, plan, jobs=1):
    gpd.GeoDataFrame(master[0], geometry=master[1], crs=CRS).to_file(tmp_path / "m.gpkg")
    gpd.GeoDataFrame(plan[0], geometry=plan[1], crs=CRS).to_file(tmp_path / "p.gpkg")
    (tmp_path / "r.csv").write_text(RULES_CSV, encoding="utf-8")
    return run_check(
        CheckOptions(
            master=str(tmp_path / "m.gpkg"),
            plans=[PlanInput(str(tmp_path / "p.gpkg"))],
            rules=str(tmp_path / "r.csv"),
            jobs=jobs,
        )
    )


@pytest.mark.parametrize("jobs", [1, 2])  # with 2 the overlap scan runs beside the overlay
def test_plan_overlaps_and_outside(tmp_path, jobs):
    master = ({"MA_QH": ["LUC", "RPH"]}, [box(0, 0, 100, 100), box(100, 0, 200, 100)])
    plan = (
        {"ma": ["ODT", "ODT", "DGT", "zz-9"]},
        [
            box(10, 10, 40, 40),
            box(30, 30, 60, 60),  # overlap 10 × 10 = 100 m²
            line((150, 50), (250, 50)),  # 50 m beyond x = 200
            box(180, 80, 220, 120),
        ],
    )  # 40×40 = 1600, inside only 20×20 = 400
    s = run(tmp_path, master, plan, jobs).summary
    q = s["by_plan"][0]["quality"]
    assert q["self_overlaps"]["pairs"] == 1
    assert q["self_overlaps"]["area_m2"] == pytest.approx(100.0)
    out = q["outside_master"]
    assert out["features"] == 2
    assert out["area_m2"] == pytest.approx(1600 - 400)
    assert out["length_m"] == pytest.approx(50.0)
    # ...and said where a user reads first: 2 features, 1,200 m² and 50 m were not checked.
    assert any(
        "2 feature(s) lie partly or wholly outside the master plan (1,200 m², 50 m, 0 point(s)" in w
        for w in s["warnings"]
    )
    # The unknown code is reported with its count, never silently dropped.
    assert s["inputs"]["plans"][0]["unknown_codes"] == {"zz-9": 1}  # as the layer spells it
    assert any("not in the taxonomy" in w for w in s["warnings"])


def test_reprojection_rounding_at_the_border_is_not_outside(tmp_path):
    """A zone that passes the master's edge by 5 µm (a plan reprojected there and back: 0.00025 m²) is
    not "outside"; one that passes it by 1 mm over 50 m (0.05 m²) is, and the message shows the 0.05."""
    master = ({"MA_QH": ["LUC", "RPH"]}, [box(0, 0, 100, 100), box(100, 0, 200, 100)])
    plan = ({"ma": ["ODT", "ODT"]}, [box(150, 25, 200.000005, 75), box(150, 0, 200, 10)])
    assert run(tmp_path, master, plan).summary["by_plan"][0]["quality"]["outside_master"]["features"] == 0
    plan = ({"ma": ["ODT"]}, [box(150, 25, 200.001, 75)])
    s = run(tmp_path, master, plan).summary
    assert s["by_plan"][0]["quality"]["outside_master"]["area_m2"] == pytest.approx(0.05)
    assert any("(0.05 m², 0.00 m, 0 point(s) outside)" in w for w in s["warnings"])


def test_master_gaps_and_overlaps(tmp_path):
    master = (
        {"MA_QH": ["LUC", "RPH", "ODT"]},
        [
            box(0, 0, 100, 100).difference(box(40, 40, 60, 60)),  # a 20×20 hole: a gap of 400 m²
            box(95, 0, 200, 100),  # overlaps LUC by 5×100 = 500 m²
            box(0, 100, 200, 200),
        ],
    )
    plan = ({"ma": ["ODT"]}, [box(10, 10, 20, 20)])
    q = run(tmp_path, master, plan).summary["master_quality"]
    assert q["checked"] and not q["valid_coverage"]
    assert q["gaps"] == 1 and q["gap_area_m2"] == pytest.approx(400.0)
    assert q["overlap_area_m2"] == pytest.approx(500.0)


def test_clean_master_is_valid(tmp_path):
    master = ({"MA_QH": ["LUC", "RPH"]}, [box(0, 0, 100, 100), box(100, 0, 200, 100)])
    q = run(tmp_path, master, ({"ma": ["ODT"]}, [box(10, 10, 20, 20)])).summary["master_quality"]
    assert q["valid_coverage"] and q["gaps"] == 0 and q["overlap_area_m2"] == 0


def test_master_lines_ignored_with_a_warning(tmp_path):
    master = ({"MA_QH": ["LUC", "DGT"]}, [box(0, 0, 100, 100), line((0, 50), (100, 50))])
    result = run(tmp_path, master, ({"ma": ["ODT"]}, [box(10, 10, 20, 20)]))
    assert any("1 non-polygon feature(s) ignored" in w for w in result.summary["warnings"])
    assert result.conflicts["area_m2"].sum() == pytest.approx(100.0)  # ODT on LUC: 10 × 10 m, once


def test_invalid_plan_geometry_repaired_and_counted(tmp_path):
    """A bow-tie zone (0,0)-(50,50)-(50,0)-(0,50) crosses itself at (25,25): make_valid gives two
    triangles of base 50 m and height 25 m, 2 × 625 = 1250 m²."""
    import shapely as _shapely

    from tests.geoms import X0, Y0

    bowtie = _shapely.Polygon([(X0, Y0), (X0 + 50, Y0 + 50), (X0 + 50, Y0), (X0, Y0 + 50)])
    assert not bowtie.is_valid
    result = run(tmp_path, ({"MA_QH": ["LUC"]}, [box(0, 0, 100, 100)]), ({"ma": ["ODT"]}, [bowtie]))
    assert result.summary["inputs"]["plans"][0]["geometries_repaired"] == 1
    assert result.conflicts["area_m2"].sum() == pytest.approx(1250.0)


def test_plan_partly_off_the_master_under_a_wrong_crs_gets_the_hint(tmp_path):
    """TM-3 104°30' coordinates declared as TM-3 104°45' (EPSG:9208) land about 27 km west: about
    half the plan falls off the 60 × 80 km master plan, and the warning names the CRS that fits."""
    import shapely

    from kgspatial.check import CheckOptions, PlanInput, run_check

    master = gpd.GeoDataFrame(
        {"MA_QH": ["LUC"]}, geometry=[shapely.box(560_000, 1_060_000, 620_000, 1_140_000)], crs=CRS
    )
    master.to_file(tmp_path / "m.gpkg")
    xs = np.linspace(565_000, 614_000, 50)
    plan = gpd.GeoDataFrame(
        {"ma": ["ODT"] * 50}, crs="EPSG:9208", geometry=[shapely.box(x, 1_100_000, x + 500, 1_100_500) for x in xs]
    )
    plan.to_file(tmp_path / "p.gpkg")
    (tmp_path / "r.csv").write_text(RULES_CSV, encoding="utf-8")
    s = run_check(
        CheckOptions(
            master=str(tmp_path / "m.gpkg"), plans=[PlanInput(str(tmp_path / "p.gpkg"))], rules=str(tmp_path / "r.csv")
        )
    ).summary
    (warning,) = [w for w in s["warnings"] if "outside the master plan" in w]
    assert "would lie on the master plan if they were in EPSG:9207" in warning
