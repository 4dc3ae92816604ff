"""Known-answer tests of the check: every figure below is worked out by hand in tests/geoms.py."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from kgspatial.check import AdminInput, CheckOptions, PlanInput, run_check
from kgspatial.cli import main
from tests import geoms


@pytest.fixture()
def scene(tmp_path):
    master = tmp_path / "master.gpkg"
    plan = tmp_path / "plan.gpkg"
    units = tmp_path / "xa.gpkg"
    rules = tmp_path / "rules.csv"
    geoms.master_frame().to_file(master)
    geoms.plan_frame().to_file(plan)
    geoms.units_frame().to_file(units)
    rules.write_text(geoms.RULES_CSV, encoding="utf-8")
    return tmp_path


def _options(scene, **kw) -> CheckOptions:
    return CheckOptions(
        master=str(scene / "master.gpkg"),
        plans=[PlanInput(str(scene / "plan.gpkg"), id_field="so_hieu")],
        rules=str(scene / "rules.csv"),
        **kw,
    )


def _pieces(frame: pd.DataFrame) -> set[tuple]:
    return {
        (r.plan_feature, r.master_code, r.rule_id, round(r.area_m2, 6), round(r.length_m, 6))
        for r in frame.itertuples()
    }


def test_pieces_areas_and_lengths_by_hand(scene):
    result = run_check(_options(scene))
    got = _pieces(result.conflicts)
    assert got == {
        ("KDC-01", "LUC", "R01", 2500.0, 0.0),
        ("KDC-01", "RPH", "R02", 2500.0, 0.0),
        ("DT963", "LUC", "R03", 0.0, 90.0),
        ("DT963", "RPH", "R02", 0.0, 90.0),
        ("CHO-1", "ODT", "R04", 3600.0, 0.0),
        ("CCN-1", "RPH", "R02", 800.0, 0.0),
    }
    # The point in RPH: R02 (*,RPH) and R05 (DNL,*) both score 2; the plan side decides: R05, compatible.
    assert "TBA-1" not in set(result.conflicts["plan_feature"])
    totals = result.summary["totals"]
    assert totals["conflict_area_m2"] == pytest.approx(5800.0)
    assert totals["conflict_length_m"] == pytest.approx(90.0)
    assert totals["conditional_area_m2"] == pytest.approx(3600.0)
    assert totals["conditional_length_m"] == pytest.approx(90.0)
    # SKK on ODT has no rule: by default listed with the plan feature it concerns (P5, 40 x 40 m).
    assert result.summary["unreviewed"] == [
        {
            "plan_code": "SKK",
            "master_code": "ODT",
            "exact": False,
            "features": 1,
            "feature_area_m2": 1600.0,
            "feature_length_m": 0.0,
            "points": 0,
            "plan_id": "plan",
        }
    ]
    assert result.summary["unreviewed_exact"] is False
    row = result.conflicts.set_index(["plan_feature", "master_code"]).loc[("KDC-01", "LUC")]
    assert row["share"] == pytest.approx(0.5)  # 2500 of 5000 m²
    assert row["plan_label"] == "Khu dân cư mới"
    assert row["master_label"] == "Lúa chuyên canh"
    assert row["kind"] == "polygon" and row["verdict"] == "conflict" and row["severity"] == "high"
    line_row = result.conflicts.set_index(["plan_feature", "master_code"]).loc[("DT963", "RPH")]
    assert line_row["share"] == pytest.approx(0.5) and line_row["kind"] == "line"
    assert result.exit_code == 1


def test_exact_unreviewed_areas(scene):
    """--exact-unreviewed: the overlap itself, 40 x 20 m of P5 on ODT, beside the feature it concerns;
    the conflict rows are those of the default run, ids included."""
    exact = run_check(_options(scene, exact_unreviewed=True))
    assert exact.summary["unreviewed"] == [
        {
            "plan_code": "SKK",
            "master_code": "ODT",
            "exact": True,
            "features": 1,
            "feature_area_m2": 1600.0,
            "feature_length_m": 0.0,
            "points": 0,
            "area_m2": pytest.approx(800.0),
            "length_m": 0.0,
            "pieces": 1,
            "plan_id": "plan",
        }
    ]
    default = run_check(_options(scene))
    pd.testing.assert_frame_equal(pd.DataFrame(exact.conflicts), pd.DataFrame(default.conflicts))


def test_unreviewed_contact_needs_interiors_to_meet(tmp_path):
    """A plan zone that only shares an edge with a zone of an unreviewed pair does not concern it;
    a zone over two zones of one unreviewed code counts once, with its whole area and length."""
    master = gpd.GeoDataFrame(
        {"MA_QH": ["LUC", "NTS", "NTS"]},
        crs=geoms.CRS,
        geometry=[geoms.box(0, 0, 100, 100), geoms.box(100, 0, 200, 100), geoms.box(0, 100, 200, 200)],
    )
    plan = gpd.GeoDataFrame(
        {"ma": ["SKK", "SKK", "DGT"]},
        crs=geoms.CRS,
        geometry=[
            geoms.box(20, 20, 100, 80),  # 80 x 60 on LUC, edge x = 100 on the first NTS zone only
            geoms.box(150, 50, 190, 150),  # 40 x 100 over both NTS zones
            geoms.line((10, 150), (190, 150)),  # 180 m on NTS
        ],
    )
    master.to_file(tmp_path / "m.gpkg")
    plan.to_file(tmp_path / "p.gpkg")
    (tmp_path / "r.csv").write_text(
        "rule_id,plan_code,master_code,verdict,severity\nR1,*,RPH,conflict,high\n", encoding="utf-8"
    )
    result = run_check(
        CheckOptions(
            master=str(tmp_path / "m.gpkg"), plans=[PlanInput(str(tmp_path / "p.gpkg"))], rules=str(tmp_path / "r.csv")
        )
    )
    got = {
        (u["plan_code"], u["master_code"]): (u["features"], u["feature_area_m2"], u["feature_length_m"])
        for u in result.summary["unreviewed"]
    }
    assert got == {
        ("SKK", "LUC"): (1, 4800.0, 0.0),
        ("SKK", "NTS"): (1, 4000.0, 0.0),
        ("DGT", "NTS"): (1, 0.0, pytest.approx(180.0)),
    }


def test_admin_split_gives_overlap_to_one_unit(scene):
    result = run_check(_options(scene, admin=AdminInput(str(scene / "xa.gpkg"), "ma_xa", "ten_xa")))
    c = result.conflicts
    by = c.groupby(["plan_feature", "master_code", "admin_code"])[["area_m2", "length_m"]].sum()
    assert by.loc[("KDC-01", "LUC", "A"), "area_m2"] == pytest.approx(1500.0)  # x 50..80
    assert by.loc[("KDC-01", "LUC", "B"), "area_m2"] == pytest.approx(1000.0)  # x 80..100
    assert by.loc[("DT963", "LUC", "A"), "length_m"] == pytest.approx(70.0)
    assert by.loc[("DT963", "LUC", "B"), "length_m"] == pytest.approx(20.0)
    # Rows still add up to the totals: nothing counted twice in the 10 m overlap.
    assert c["area_m2"].sum() == pytest.approx(5800.0 + 3600.0)
    by_admin = {r["admin_code"]: r["area_m2"] for r in result.summary["by_admin"]}
    assert by_admin == {"A": pytest.approx(1500.0), "B": pytest.approx(1000.0 + 2500 + 3600 + 800)}
    assert set(c.loc[c.admin_code == "A", "admin_name"]) == {"Phường Vĩnh Thanh"}
    assert any("overlap" in w for w in result.summary["warnings"])
    assert result.summary["inputs"]["admin"]["overlap_area_m2"] == pytest.approx(10 * 200)


def test_pieces_outside_every_unit_are_kept(scene):
    small = geoms.units_frame().iloc[[0]]  # only A: x 0..80
    small.to_file(scene / "only_a.gpkg")
    result = run_check(_options(scene, admin=AdminInput(str(scene / "only_a.gpkg"))))
    c = result.conflicts
    assert c.loc[c.admin_code == "A", "area_m2"].sum() == pytest.approx(1500.0)
    assert c.loc[c.admin_code == "", "area_m2"].sum() == pytest.approx(1000.0 + 2500 + 3600 + 800)
    assert any("outside every unit" in w for w in result.summary["warnings"])


def test_min_area_counts_slivers(scene):
    result = run_check(_options(scene, min_area=1000.0))
    assert set(result.conflicts["area_m2"].round()) >= {2500.0, 3600.0}
    assert 800.0 not in set(result.conflicts["area_m2"].round())
    assert result.summary["totals"]["slivers"] == {"count": 1, "area_m2": pytest.approx(800.0)}
    assert (result.conflicts["kind"] == "line").sum() == 2  # lines are never slivers


def test_ids_are_stable(scene):
    a = run_check(_options(scene)).conflicts
    b = run_check(_options(scene, jobs=2)).conflicts
    assert list(a["conflict_id"]) == list(b["conflict_id"])
    assert a["conflict_id"].is_unique


def test_cli_writes_contract_outputs(scene, capsys):
    out = scene / "out"
    argv = [
        "check",
        "--master",
        str(scene / "master.gpkg"),
        "--plan",
        str(scene / "plan.gpkg"),
        "--rules",
        str(scene / "rules.csv"),
        "--admin",
        str(scene / "xa.gpkg"),
        "--geojson",
        "--plan-id-field",
        "so_hieu",
        "--out",
        str(out),
        "-q",
    ]
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 1
    assert pyogrio.list_layers(out / "conflicts.gpkg")[0][0] == "conflicts"
    gpkg = pyogrio.read_dataframe(out / "conflicts.gpkg")
    assert gpkg.crs.to_epsg() == 9207
    assert len(gpkg) == 8  # 6 pieces, two of them cut at the A|B border
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["inputs"]["master"]["code_field"] == "MA_QH"  # detected
    assert summary["inputs"]["plans"][0]["code_field"] == "ma"
    gj = json.loads((out / "conflicts.geojson").read_text(encoding="utf-8"))
    assert len(gj["features"]) == 8 and "crs" not in gj  # RFC 7946: WGS 84, no crs member
    lon, lat = gj["features"][0]["geometry"]["coordinates"][0][0][:2]
    assert 104 < lon < 106 and 9 < lat < 11
    areas = sorted(round(shapely.area(g)) for g in gpkg.geometry if g.geom_type.endswith("Polygon"))
    assert areas == sorted(round(a) for a in gpkg.loc[gpkg.kind == "polygon", "area_m2"])


def test_cli_exit_0_when_only_conditional(scene):
    rules = scene / "soft.csv"
    rules.write_text("rule_id,plan_code,master_code,verdict,severity\nS1,*,*,conditional,low\n", encoding="utf-8")
    argv = [
        "check",
        "--master",
        str(scene / "master.gpkg"),
        "--plan",
        str(scene / "plan.gpkg"),
        "--rules",
        str(rules),
        "--out",
        str(scene / "o"),
        "-q",
    ]
    assert main(argv) == 0


def test_outputs_readable_by_colleagues(scene):
    """Results go to shared office drives: not the 0700/0600 of a scratch folder."""
    out = scene / "shared"
    argv = [
        "check",
        "--master",
        str(scene / "master.gpkg"),
        "--plan",
        str(scene / "plan.gpkg"),
        "--rules",
        str(scene / "rules.csv"),
        "--out",
        str(out),
        "-q",
        "--map",
    ]
    main(argv)
    assert out.stat().st_mode & 0o055 == 0o055 & ~_umask()
    assert (out / "map.html").stat().st_mode & 0o044 == 0o044 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_progress_counts_zone_pairs(scene):
    messages: list[str] = []
    run_check(_options(scene), progress=messages.append)
    pairs = [m for m in messages if "zone pairs" in m]
    # Candidate pairs left after the rule filter: P0 x {LUC, RPH}, P1 x {LUC, RPH}, P4 x ODT,
    # P5 x RPH (P5 x ODT is unreviewed: only tested for contact); P3 on ODT is the same code, the
    # point is apart.  With --exact-unreviewed P5 x ODT is intersected too.
    assert pairs and pairs[-1].endswith("100% (6 / 6)")
    messages.clear()
    run_check(_options(scene, exact_unreviewed=True), progress=messages.append)
    assert [m for m in messages if "zone pairs" in m][-1].endswith("100% (7 / 7)")


def test_road_along_a_zone_border_counted_once(tmp_path):
    """A road drawn on the border x = 100 between LUC and RPH (80 m) lies in both zones: its
    80 m are counted once, in the zone whose rule weighs most (R02 conflict on RPH, not R03)."""
    import geopandas as gpd

    geoms.master_frame().to_file(tmp_path / "m.gpkg")
    gpd.GeoDataFrame({"ma": ["DGT"]}, geometry=[geoms.line((100, 10), (100, 90))], crs=geoms.CRS).to_file(
        tmp_path / "p.gpkg"
    )
    (tmp_path / "r.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    result = run_check(
        CheckOptions(
            master=str(tmp_path / "m.gpkg"), plans=[PlanInput(str(tmp_path / "p.gpkg"))], rules=str(tmp_path / "r.csv")
        )
    )
    rows = result.conflicts
    assert list(rows["rule_id"]) == ["R02"]
    assert rows["length_m"].sum() == pytest.approx(80.0)
    assert rows["share"].iloc[0] == pytest.approx(1.0)


def test_road_along_a_commune_border_counted_once(tmp_path):
    """Units A [0,80] and B [70,200] share the border x = 80 once the overlap is given to A.
    A road on x = 80 (y 10..90, on LUC) is 80 m, counted once, in A (first by code)."""
    import geopandas as gpd

    geoms.master_frame().to_file(tmp_path / "m.gpkg")
    geoms.units_frame().to_file(tmp_path / "xa.gpkg")
    gpd.GeoDataFrame({"ma": ["DGT"]}, geometry=[geoms.line((80, 10), (80, 90))], crs=geoms.CRS).to_file(
        tmp_path / "p.gpkg"
    )
    (tmp_path / "r.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    result = run_check(
        CheckOptions(
            master=str(tmp_path / "m.gpkg"),
            plans=[PlanInput(str(tmp_path / "p.gpkg"))],
            rules=str(tmp_path / "r.csv"),
            admin=AdminInput(str(tmp_path / "xa.gpkg")),
        )
    )
    rows = result.conflicts
    assert list(zip(rows["admin_code"], rows["rule_id"])) == [("A", "R03")]
    assert rows["length_m"].sum() == pytest.approx(80.0)


def test_plan_holding_names_in_tcvn3_instead_of_codes(scene):
    """An old ArcView plan with a LOAIDAT column of TCVN3 *names* and no .cpg: the names are
    decoded, matched to their codes, and the figures are those of the coded plan's polygons
    (a shapefile holds one geometry type): 5,800 m² of conflict, 3,600 m² conditional."""
    import kgspatial.textcodec  # noqa: F401  (registers the tcvn3 codec)

    names = {"ODT": "Đất ở tại đô thị", "TMD": "Đất thương mại, dịch vụ", "SKK": "ĐẤT KHU CÔNG NGHIỆP"}
    frame = geoms.plan_frame()
    frame = frame[frame.geom_type == "Polygon"].reset_index(drop=True)
    frame["LOAIDAT"] = [names[c].encode("tcvn3").decode("latin-1") for c in frame.pop("ma")]
    frame["ten"] = [t.encode("tcvn3").decode("latin-1") for t in frame["ten"]]
    path = scene / "plan_names.shp"
    pyogrio.write_dataframe(frame, path, encoding="ISO-8859-1")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    result = run_check(
        CheckOptions(
            master=str(scene / "master.gpkg"),
            rules=str(scene / "rules.csv"),
            plans=[PlanInput(str(path), code_field="LOAIDAT", id_field="so_hieu")],
        )
    )
    plan_input = result.summary["inputs"]["plans"][0]
    assert plan_input["encoding"] == "tcvn3"
    assert plan_input["unknown_codes"] == {}
    totals = result.summary["totals"]
    assert totals["conflict_area_m2"] == pytest.approx(5800.0)
    assert totals["conditional_area_m2"] == pytest.approx(3600.0)
    assert set(result.conflicts["plan_code"]) == {"ODT", "TMD", "SKK"}
    assert "Khu dân cư mới" in set(result.conflicts["plan_label"])


def test_each_point_of_a_multipoint_lies_in_its_own_zone_and_commune(scene):
    """One ODT feature of four points: (30,30) on LUC in commune A, (150,30) and (160,60) on RPH in
    B, (50,150) on ODT (same code: compatible).  By hand: R01 once, R02 twice, 3 conflict points."""
    wells = gpd.GeoDataFrame(
        {"ma": ["ODT"], "ten": ["Giếng"], "so_hieu": ["G-1"]},
        crs=geoms.CRS,
        geometry=[
            shapely.MultiPoint([(geoms.X0 + x, geoms.Y0 + y) for x, y in ((30, 30), (150, 30), (160, 60), (50, 150))])
        ],
    )
    wells.to_file(scene / "plan.gpkg")
    result = run_check(_options(scene, admin=AdminInput(str(scene / "xa.gpkg"), "ma_xa", "ten_xa")))
    c = result.conflicts
    got = sorted(
        (r.rule_id, r.admin_code, round(r.geometry.x - geoms.X0), round(r.geometry.y - geoms.Y0))
        for r in c.itertuples()
    )
    assert got == [("R01", "A", 30, 30), ("R02", "B", 150, 30), ("R02", "B", 160, 60)]
    assert set(c["plan_feature"]) == {"G-1"} and set(c["share"]) == {1.0}
    assert c["conflict_id"].is_unique
    assert result.summary["totals"]["conflict_points"] == 3
