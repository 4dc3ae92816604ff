"""`kgspatial diff` (CONTRACT §7): the pieces whose canonical code changed, land added and removed,
with areas worked out by hand.

OLD is the master plan of tests/geoms.py: M0 LUC [0,100]×[0,100], M1 RPH [100,200]×[0,100],
M2 ODT [0,200]×[100,200]. NEW (its adjustment):
    N0 LUC [0,100]×[10,100]     M0 less a 100×10 strip: removed 1000 m² (LUC)
    N1 ODT [100,200]×[0,50]     on M1: RPH -> ODT, 100×50 = 5000 m²
    N2 RPN [100,200]×[50,100]   RPN is Circular 08/2007's code for RPH: no change
    N3 ODT [0,150]×[100,200]    on M2: same code
    N4 TMD [150,200]×[100,200]  on M2: ODT -> TMD, 50×100 = 5000 m²
    N5 DGT [200,220]×[0,200]    outside OLD: added 20×200 = 4000 m²
Communes A [0,80]×[0,200] and B [70,200]×[0,200] (overlap to A): the removed strip is 800 m² in
A and 200 m² in B; both changes lie in B; the added road lies outside both.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pyogrio
import pytest

from kgspatial import crs as crs_mod
from kgspatial.cli import main
from tests import geoms


def new_version() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "MA_QH": ["LUC", "ODT", "RPN", "ODT", "TMD", "DGT"],
            "TEN": ["Lúa", "Đô thị mở rộng", "Rừng phòng hộ", "Đô thị", "Thương mại", "Đường ven biển"],
            "MA_VUNG": ["N0", "N1", "N2", "N3", "N4", "N5"],
        },
        geometry=[
            geoms.box(0, 10, 100, 100),
            geoms.box(100, 0, 200, 50),
            geoms.box(100, 50, 200, 100),
            geoms.box(0, 100, 150, 200),
            geoms.box(150, 100, 200, 200),
            geoms.box(200, 0, 220, 200),
        ],
        crs=geoms.CRS,
    )


@pytest.fixture()
def versions(tmp_path):
    geoms.master_frame().to_file(tmp_path / "old.gpkg")
    new_version().to_file(tmp_path / "new.gpkg")
    geoms.units_frame().to_file(tmp_path / "xa.gpkg")
    return tmp_path


def _run(*argv) -> int:
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(["diff", *map(str, argv)]))
    return info.value.code


def _pieces(frame) -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    for r in frame.itertuples():
        key = (r.change, r.from_code, r.to_code)
        out[key] = out.get(key, 0.0) + r.area_m2
    return out


def test_changed_added_and_removed_by_hand(versions):
    out = versions / "out"
    assert _run(versions / "old.gpkg", versions / "new.gpkg", "--new-id-field", "MA_VUNG", "--out", out) == 0
    assert pyogrio.list_layers(out / "diff.gpkg")[0][0] == "changes"
    changes = pyogrio.read_dataframe(out / "diff.gpkg")
    assert changes.crs.to_epsg() == 9207
    assert _pieces(changes) == {
        ("changed", "RPH", "ODT"): pytest.approx(5000.0),
        ("changed", "ODT", "TMD"): pytest.approx(5000.0),
        ("added", "", "DGT"): pytest.approx(4000.0),
        ("removed", "LUC", ""): pytest.approx(1000.0),
    }
    assert changes.loc[changes["to_code"] == "TMD", "new_feature"].tolist() == ["N4"]
    assert changes.loc[changes["to_code"] == "TMD", "old_feature"].tolist() == ["2"]
    assert changes.loc[changes["to_code"] == "TMD", "to_label"].tolist() == ["Thương mại"]
    assert all(abs(g.area - a) < 1e-6 for g, a in zip(changes.geometry, changes["area_m2"]))
    summary = json.loads((out / "diff.json").read_text(encoding="utf-8"))
    assert summary["totals"] == {
        "changed_pieces": 2,
        "changed_area_m2": 10000.0,
        "added_pieces": 1,
        "added_area_m2": 4000.0,
        "removed_pieces": 1,
        "removed_area_m2": 1000.0,
        "slivers": {"count": 0, "area_m2": 0.0},
    }
    assert summary["by_change"] == [
        {"from_code": "ODT", "to_code": "TMD", "pieces": 1, "area_m2": 5000.0},
        {"from_code": "RPH", "to_code": "ODT", "pieces": 1, "area_m2": 5000.0},
    ]
    assert summary["inputs"]["old"]["code_field"] == "MA_QH"  # detected


def test_communes_split_the_pieces(versions):
    out = versions / "out"
    assert _run(versions / "old.gpkg", versions / "new.gpkg", "--admin", versions / "xa.gpkg", "--out", out) == 0
    changes = pyogrio.read_dataframe(out / "diff.gpkg")
    by = changes.groupby(["change", "admin_code"])["area_m2"].sum().round(6).to_dict()
    assert by == {("removed", "A"): 800.0, ("removed", "B"): 200.0, ("changed", "B"): 10000.0, ("added", ""): 4000.0}
    summary = json.loads((out / "diff.json").read_text(encoding="utf-8"))
    assert {r["code"]: r["removed_area_m2"] for r in summary["by_admin"]} == {"": 0.0, "A": 800.0, "B": 200.0}
    assert set(changes.loc[changes["admin_code"] == "A", "admin_name"]) == {"Phường Vĩnh Thanh"}
    assert any("outside every unit of --admin" in w for w in summary["warnings"])


def test_another_crs_and_field_names_are_no_change(versions):
    """The same layer exported in WGS 84 with its codes in another column: nothing changed
    (the reprojection's sub-millimetre noise is below --min-area)."""
    same = geoms.master_frame().rename(columns={"MA_QH": "LoaiDat"})
    crs_mod.to_crs(same, "EPSG:4326").to_file(versions / "same.geojson")
    out = versions / "out"
    assert _run(versions / "old.gpkg", versions / "same.geojson", "--new-field", "LoaiDat", "--out", out) == 0
    summary = json.loads((out / "diff.json").read_text(encoding="utf-8"))
    t = summary["totals"]
    assert (t["changed_pieces"], t["added_pieces"], t["removed_pieces"]) == (0, 0, 0)
    assert t["slivers"]["area_m2"] < 1.0
    assert len(pyogrio.read_dataframe(out / "diff.gpkg")) == 0


def test_bad_input_is_exit_2_and_writes_nothing(versions, capsys):
    out = versions / "out"
    assert _run(versions / "old.gpkg", versions / "new.gpkg", "--new-field", "NOPE", "--out", out) == 2
    assert not out.exists()
    assert "NOPE" in capsys.readouterr().err
    assert _run(versions / "old.gpkg", versions / "missing.gpkg", "--out", out) == 2
    assert not out.exists()


def test_overlapping_zones_count_each_piece_of_land_once(tmp_path):
    """OLD: two LUC zones overlapping in x 50..100 (A [0,100]×[0,100], B [50,150]×[0,100]); NEW:
    one ODT zone [0,150]×[0,100] = 1.5 ha. Every square metre changes LUC -> ODT once: 15000 m²
    (A's 10000 m², then B's 10000 m² less the 5000 m² A already gave); the old code summed the
    pairs, 20000 m². Removed land likewise: with NEW only [0,20]×[0,100] (ODT), A and B less it
    are 8000 + 10000 m² minus their shared 5000 m² = 13000 m² removed (not 18000), 2000 changed."""
    old = gpd.GeoDataFrame(
        {"MA_QH": ["LUC", "LUC"], "TEN": ["Lúa A", "Lúa B"]},
        geometry=[geoms.box(0, 0, 100, 100), geoms.box(50, 0, 150, 100)],
        crs=geoms.CRS,
    )
    old.to_file(tmp_path / "old.gpkg")
    gpd.GeoDataFrame(
        {"MA_QH": ["ODT"], "TEN": ["Đô thị"]}, geometry=[geoms.box(0, 0, 150, 100)], crs=geoms.CRS
    ).to_file(tmp_path / "new.gpkg")
    assert _run(tmp_path / "old.gpkg", tmp_path / "new.gpkg", "--out", tmp_path / "out") == 0
    summary = json.loads((tmp_path / "out" / "diff.json").read_text(encoding="utf-8"))
    assert summary["totals"]["changed_area_m2"] == 15000.0
    assert (summary["totals"]["added_area_m2"], summary["totals"]["removed_area_m2"]) == (0.0, 0.0)
    assert summary["by_change"] == [{"from_code": "LUC", "to_code": "ODT", "pieces": 2, "area_m2": 15000.0}]
    assert any("5.000,00 m²" in w and "counted once" in w for w in summary["warnings"])
    changes = pyogrio.read_dataframe(tmp_path / "out" / "diff.gpkg")
    assert pytest.approx(changes.geometry.union_all().area) == sum(changes["area_m2"]) == pytest.approx(15000.0)

    gpd.GeoDataFrame({"MA_QH": ["ODT"], "TEN": ["Đô thị"]}, geometry=[geoms.box(0, 0, 20, 100)], crs=geoms.CRS).to_file(
        tmp_path / "new2.gpkg"
    )
    assert _run(tmp_path / "old.gpkg", tmp_path / "new2.gpkg", "--out", tmp_path / "out2") == 0
    totals = json.loads((tmp_path / "out2" / "diff.json").read_text(encoding="utf-8"))["totals"]
    assert (totals["changed_area_m2"], totals["removed_area_m2"], totals["added_area_m2"]) == (2000.0, 13000.0, 0.0)
