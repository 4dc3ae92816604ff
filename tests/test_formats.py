"""MapInfo tables and File Geodatabases, as Vietnamese land offices hold their plans: the same land
gives the same figures as the GeoPackage it was exported from (worked out by hand in test_check)."""

from __future__ import annotations

import zipfile

import pyogrio
import pytest

import kgspatial.textcodec  # noqa: F401  (registers the tcvn3 codec)
from kgspatial.batch import file_parts
from kgspatial.check import CheckOptions, PlanInput, run_check
from kgspatial.errors import CRSError, InputError
from kgspatial.io import read_layer
from tests import geoms

# Pieces of geoms.plan_frame() on geoms.master_frame() under geoms.RULES_CSV, by hand (test_check).
BY_HAND = {
    ("KDC-01", "LUC", 2500.0, 0.0),
    ("KDC-01", "RPH", 2500.0, 0.0),
    ("DT963", "LUC", 0.0, 90.0),
    ("DT963", "RPH", 0.0, 90.0),
    ("CHO-1", "ODT", 3600.0, 0.0),
    ("CCN-1", "RPH", 800.0, 0.0),
}
# MapInfo stores integer coordinates over the table's bounds: these give 0.1 mm steps.
TAB_BOUNDS = {"BOUNDS": "500000,1000000,700000,1200000"}


def _check(tmp_path, master, plan, **plan_kw):
    rules = tmp_path / "rules.csv"
    rules.write_text(geoms.RULES_CSV, encoding="utf-8")
    return run_check(
        CheckOptions(master=str(master), plans=[PlanInput(str(plan), id_field="so_hieu", **plan_kw)], rules=str(rules))
    )


def _pieces(result):
    return {
        (r.plan_feature, r.master_code, round(r.area_m2, 2), round(r.length_m, 2))
        for r in result.conflicts.itertuples()
    }


def _master(tmp_path):
    path = tmp_path / "master.gpkg"
    geoms.master_frame().to_file(path)
    return path


def test_mapinfo_tab_as_gdal_exports_vn2000(tmp_path):
    """MapInfo has no VN-2000 datum: GDAL writes EPSG:9207 as WGS 84 on the TM-3 104°30' grid.
    That grid exists only on VN-2000, so the table is read as EPSG:9207 (not moved 225 m), with a warning."""
    plan = tmp_path / "QH_KhuDoThi.tab"
    pyogrio.write_dataframe(geoms.plan_frame(), plan, driver="MapInfo File", layer_options=TAB_BOUNDS)
    assert "WGS" in pyogrio.read_info(plan)["crs"]  # what the file itself says
    result = _check(tmp_path, _master(tmp_path), plan)
    assert _pieces(result) == BY_HAND
    entry = result.summary["inputs"]["plans"][0]
    assert entry["crs"].startswith("EPSG:9207") and entry["crs_source"] == "file (recognised)"
    assert set(result.conflicts["plan_id"]) == {"QH_KhuDoThi"}
    assert any("only VN-2000 has" in w and "225 m" in w for w in result.summary["warnings"])
    assert set(result.conflicts["plan_label"]) >= {"Khu dân cư mới", "Chợ"}


def test_mapinfo_mif_and_zipped_tab(tmp_path):
    mif = tmp_path / "plan.mif"
    pyogrio.write_dataframe(
        geoms.plan_frame(), mif, driver="MapInfo File", dataset_options={"FORMAT": "MIF"}, layer_options=TAB_BOUNDS
    )
    assert _pieces(_check(tmp_path, _master(tmp_path), mif)) == BY_HAND
    folder = tmp_path / "tab"
    folder.mkdir()
    pyogrio.write_dataframe(geoms.plan_frame(), folder / "plan.tab", driver="MapInfo File", layer_options=TAB_BOUNDS)
    zipped = tmp_path / "plan_tab.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for part in sorted(folder.iterdir()):
            zf.write(part, f"QH/{part.name}")
    assert _pieces(_check(tmp_path, _master(tmp_path), zipped)) == BY_HAND


def test_mapinfo_neutral_table_in_tcvn3(tmp_path):
    """A "Neutral" charset table holds whatever bytes the font wrote: TCVN3 here, found and decoded."""
    frame = geoms.plan_frame()
    frame["ten"] = [t.encode("tcvn3").decode("latin-1") for t in frame["ten"]]
    plan = tmp_path / "plan.tab"
    pyogrio.write_dataframe(frame, plan, driver="MapInfo File", layer_options={**TAB_BOUNDS, "ENCODING": "ISO-8859-1"})
    tab = plan.read_bytes().replace(b"ISO8859_1", b"Neutral")
    plan.write_bytes(tab)
    assert b'Charset "Neutral"' in tab
    layer = read_layer(plan)
    assert layer.encoding == "tcvn3"
    assert list(layer.gdf["ten"]) == list(geoms.plan_frame()["ten"])


def test_mapinfo_table_missing_a_part(tmp_path):
    plan = tmp_path / "plan.tab"
    pyogrio.write_dataframe(geoms.plan_frame(), plan, driver="MapInfo File")
    plan.with_suffix(".map").unlink()  # GDAL alone would read the attributes and no geometry
    with pytest.raises(InputError, match=r"MapInfo table lacks its \.map part"):
        read_layer(plan)


@pytest.mark.filterwarnings("ignore:.crs. was not provided")
def test_mapinfo_nonearth_needs_a_crs(tmp_path):
    frame = geoms.plan_frame().set_crs(None, allow_override=True)
    plan = tmp_path / "plan.tab"
    pyogrio.write_dataframe(frame, plan, driver="MapInfo File", layer_options=TAB_BOUNDS)
    assert "Nonearth" in pyogrio.read_info(plan)["crs"]
    with pytest.raises(CRSError, match="local coordinate system .*--assume-crs"):
        read_layer(plan)
    assert _pieces(_check(tmp_path, _master(tmp_path), plan, assume_crs="EPSG:9207")) == BY_HAND


def test_file_geodatabase_folder_and_zip(tmp_path):
    gdb = tmp_path / "QHT_KienGiang.gdb"
    pyogrio.write_dataframe(geoms.master_frame(), gdb, layer="SDD_2030", driver="OpenFileGDB")
    pyogrio.write_dataframe(geoms.units_frame(), gdb, layer="RanhGioiXa", driver="OpenFileGDB")
    plan = tmp_path / "plan.gpkg"
    geoms.plan_frame().to_file(plan)
    with pytest.raises(InputError, match=r"holds 2 layers \(.*SDD_2030.*\); choose one"):
        _check(tmp_path, gdb, plan)
    assert _pieces(_check(tmp_path, f"{gdb}::SDD_2030", plan)) == BY_HAND
    with pytest.raises(InputError, match="no layer 'sdd'"):
        read_layer(f"{gdb}::sdd")

    zipped = tmp_path / "QHT_KienGiang.gdb.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for part in sorted(gdb.iterdir()):
            zf.write(part, f"{gdb.name}/{part.name}")
    assert _pieces(_check(tmp_path, f"{zipped}|layername=SDD_2030", plan)) == BY_HAND
    assert read_layer(f"{zipped}::RanhGioiXa").name == "QHT_KienGiang"
    assert len(file_parts(str(gdb))) == len([p for p in gdb.iterdir() if p.is_file()]) > 3


def test_batch_hashes_every_part_of_a_table(tmp_path):
    plan = tmp_path / "plan.tab"
    pyogrio.write_dataframe(geoms.plan_frame(), plan, driver="MapInfo File")
    (tmp_path / "other.tab").write_text("!table")
    assert {p.suffix for p in file_parts(str(plan))} == {".tab", ".dat", ".map", ".id"}


def _curved_circle_wkb(cx: float, cy: float, r: float) -> bytes:
    """WKB of a CurvePolygon whose ring is one CircularString round a circle (ISO 13249-3 types 10, 8)."""
    import struct

    ring = struct.pack("<BII", 1, 8, 3) + struct.pack("<6d", cx + r, cy, cx - r, cy, cx + r, cy)
    return struct.pack("<BII", 1, 10, 1) + ring


def test_true_curves_are_turned_into_segments(tmp_path):
    """ArcGIS and CAD data hold true arcs, which shapely cannot read: they are made straight segments
    (through fiona) and said.  A circle of 30 m on LUC: π·30² = 2,827.4 m², about 0.1 % less drawn."""
    import math

    import pyarrow as pa

    pytest.importorskip("fiona")
    plan = tmp_path / "plan.gpkg"
    table = pa.table(
        {
            "ma": ["ODT"],
            "so_hieu": ["TRON-1"],
            "geometry": pa.array([_curved_circle_wkb(geoms.X0 + 50, geoms.Y0 + 50, 30.0)], pa.binary()),
        }
    )
    pyogrio.write_arrow(table, plan, driver="GPKG", geometry_name="geometry", geometry_type="Unknown", crs=geoms.CRS)
    result = _check(tmp_path, _master(tmp_path), plan)
    (row,) = result.conflicts.itertuples()
    assert row.rule_id == "R01" and row.area_m2 == pytest.approx(math.pi * 30.0**2, rel=2e-3)
    assert any("curved geometries (arcs) turned into straight segments" in w for w in result.summary["warnings"])
