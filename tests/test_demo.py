"""The demo province (layers/demo/, kgspatial/demo.py) and `kgspatial demo` end to end.

PLANTED below is worked out by hand from the layout in kgspatial/demo.py: rectangles lying wholly
in one master zone and one commune (area = w × h), straight lines crossing a rectangular zone from
side to side (length = the zone's width), one point.
"""

from __future__ import annotations

import json
import time

import geopandas as gpd
import pyogrio
import pytest
import shapely

from kgspatial import crs as crs_mod
from kgspatial import demo
from kgspatial.cli import main
from kgspatial.io import read_layer
from kgspatial.taxonomy import Taxonomy, default_layers_dir
from kgspatial.textcodec import tcvn3_encode

DEMO = default_layers_dir() / "demo"

# plan id, feature id, master code, verdict, severity, kind, expected size (m², m or points)
PLANTED = [
    ("qhc-rach-gia", "QHC-RG-MR01", "LUC", "conflict", "high", "polygon", 400 * 250),
    ("qhpk-ha-tien", "HT-L07", "CQP", "conflict", "high", "polygon", 200 * 200),
    ("nong-thon-an-minh-bac", "AMB-07", "RDD", "conflict", "high", "polygon", 300 * 200),
    ("nong-thon-hon-dat", "HD-NTS-03", "LUC", "conditional", "medium", "polygon", 500 * 400),
    ("cap-nuoc-rac", "BR-01", "ODT", "conflict", "high", "polygon", 300 * 300),
    ("du-lich-phu-quoc", "PQ-DL-02", "RDD", "conditional", "high", "polygon", 500 * 300),
    ("du-lich-phu-quoc", "PQ-DL-03", "RDD", "conflict", "high", "polygon", 200 * 150),
    ("gt-duong-tinh", "DT-QP-01", "CQP", "conflict", "high", "line", 1500),  # defence square 1500 m wide
    ("thuy-loi", "K-RPH-01", "RPH", "conditional", "high", "line", 1600),  # protection forest 1600 m wide
    ("nang-luong-duong-day", "DZ-110-02", "RDD", "conflict", "high", "line", 9000),  # national park 9 km wide
    ("nang-luong-nha-may", "NM-DMT-05", "RPH", "conflict", "high", "point", 1),
    # against the parent plan qhc-rach-gia (CONTRACT §7): a housing lot on its road block QHC-RG-011
    ("qhpk-rach-gia", "RG-PK-L11", "DGT", "conflict", "medium", "polygon", 200 * 150),
]
PLAN_TYPES = {
    "urban_general",
    "urban_zoning",
    "rural",
    "sectoral_transport",
    "sectoral_irrigation",
    "sectoral_energy",
    "technical_water_waste",
    "sectoral_tourism",
}


def _cli(args) -> int:
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """`kgspatial demo` once, end to end with all reports, timed."""
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    start = time.perf_counter()
    rc = _cli(["demo", "--out", str(out), "-q"])
    elapsed = time.perf_counter() - start
    print(f"\nkgspatial demo: {elapsed:.0f} s")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return out, rc, elapsed, summary


# ----------------------------------------------------------------------------------------------
# The data as committed


def test_registry_covers_every_plan_type_and_mess():
    import yaml

    reg = yaml.safe_load((DEMO / "registry.yaml").read_text(encoding="utf-8"))
    plans = reg["plans"]
    assert len(plans) >= 8
    assert {p["type"] for p in plans} >= PLAN_TYPES
    code_fields = {p["code_field"] for p in plans}
    assert len(code_fields) >= 6  # ma, KyHieu, MaLoaiDat, LOAIDAT, ma_dat, MDSD, ...
    assert any(p.get("assume_crs") for p in plans)
    assert any(p["path"].endswith(".zip") for p in plans)
    # TCVN3 text without .cpg
    assert not (DEMO / "nong_thon_an_minh_bac.cpg").exists()
    dbf = (DEMO / "nong_thon_an_minh_bac.dbf").read_bytes()
    assert tcvn3_encode("Đất ở nông thôn") in dbf
    layer = read_layer(str(DEMO / "nong_thon_an_minh_bac.shp"))
    assert layer.encoding == "tcvn3"
    assert "Đất ở nông thôn" in set(layer.gdf["TenLoaiDat"])
    # no .prj; EPSG:4326; a zipped shapefile; one plan without its .shx
    assert not (DEMO / "nong_thon_son_kien.prj").exists()
    assert pyogrio.read_info(DEMO / "gt_duong_tinh.geojson")["crs"] == "EPSG:4326"
    assert pyogrio.read_info(DEMO / "nang_luong.gpkg", layer="nha_may")["geometry_type"] == "Point"
    assert pyogrio.read_info(DEMO / "nang_luong.gpkg", layer="duong_day")["geometry_type"] == "LineString"
    assert (DEMO / "qhpk_ha_tien.zip").is_file()
    assert not (DEMO / "qhpk_kien_luong.shx").exists()
    codes = set(read_layer(str(DEMO / "qhpk_ha_tien.zip")).gdf["KyHieu"])
    assert {"ODT-01", "O.D.T", "odt"} <= codes


def test_master_is_a_clean_coverage_with_taxonomy_codes():
    master = gpd.read_file(DEMO / "master.gpkg", layer="quy_hoach_tinh")
    assert master.crs.to_epsg() == 9207
    taxonomy = Taxonomy.load(default_layers_dir() / "taxonomy.csv")
    for code in set(master["MA_QH"]):
        taxonomy.get(code)  # KeyError for anything but a canonical code
    assert {"LUC", "NTS", "RPH", "RDD", "ODT", "SKK", "KKT", "KDL", "DGT", "CQP"} <= set(master["MA_QH"])
    assert master.is_valid.all()
    total = master.area.sum()
    union = shapely.union_all(master.geometry.values)
    assert abs(total - union.area) < 1.0  # no overlaps (1 m² over some 6,000 km²)
    names = set(master["TEN"])
    for name in (
        "Vườn quốc gia Phú Quốc",
        "Khu công nghiệp Thạnh Lộc",
        "Khu công nghiệp Thuận Yên",
        "Khu công nghiệp Xẻo Rô",
    ):
        assert name in names


def test_communes_old_nest_in_new():
    units = gpd.read_file(DEMO / "communes.gpkg")
    prev = gpd.read_file(DEMO / "communes_2024.gpkg")
    assert {"ma_xa", "ten_xa"} <= set(units.columns)
    assert {"ma_xa", "ten_xa", "ma_huyen", "ten_huyen"} <= set(prev.columns)
    assert prev["ma_huyen"].nunique() >= 14  # the pre-2025 districts
    by_code = units.set_index("ma_xa").geometry
    for code, geom in zip(prev["ma_xa_2025"], prev.geometry):
        assert geom.difference(by_code[code]).area < 1.0
    assert abs(units.area.sum() - prev.area.sum()) < 1.0


def test_places_lie_in_their_real_districts(shared_data):
    """The zones named after places fall inside those places' real (pre-2025) districts."""
    districts = gpd.read_file(shared_data / "kg_pre2025_admin_censusVN2009.gpkg", layer="districts")
    master = gpd.read_file(DEMO / "master.gpkg", layer="quy_hoach_tinh")
    expected = {
        "Đất ở đô thị Rạch Giá": "Thành phố Rạch Giá",
        "Đất ở đô thị Hà Tiên": "Thị xã Hà Tiên",
        "Đất ở đô thị Dương Đông": "Huyện Phú Quốc",
        "Đất ở đô thị An Thới": "Huyện Phú Quốc",
        "Vườn quốc gia Phú Quốc": "Huyện Phú Quốc",
        "Vườn quốc gia U Minh Thượng (phân khu bảo vệ nghiêm ngặt)": "Huyện U Minh Thượng",
        "Khu công nghiệp Thạnh Lộc": "Huyện Châu Thành",
        "Khu công nghiệp Thuận Yên": "Thị xã Hà Tiên",
        "Khu du lịch Hòn Chông": "Huyện Kiên Lương",
        "Đất ở đô thị Tân Hiệp": "Huyện Tân Hiệp",
        "Đất ở đô thị Giồng Riềng": "Huyện Giồng Riềng",
        "Đất ở đô thị Gò Quao": "Huyện Gò Quao",
        "Đất ở đô thị Thứ Ba": "Huyện An Biên",
        "Đất ở đô thị Thứ Mười Một": "Huyện An Minh",
        "Đất ở đô thị Vĩnh Thuận": "Huyện Vĩnh Thuận",
        "Đất ở đô thị Hòn Đất": "Huyện Hòn Đất",
        "Đất ở đô thị Kiên Lương": "Huyện Kiên Lương",
    }
    zones = master[master["TEN"].isin(expected)].copy()
    assert set(zones["TEN"]) == set(expected)
    zones["geometry"] = zones.geometry.centroid
    local = crs_mod.to_crs(districts, "EPSG:9207")  # metres; the real boundaries are 1:250 000
    found = {}
    for name, centre in zip(zones["TEN"], zones.geometry):
        distance = local.distance(centre)
        nearest = distance.idxmin()
        assert distance[nearest] < 1500, name  # on the coast the coarse real outline may miss it
        found[name] = local.loc[nearest, "district_vn"]
    assert found == expected


def test_generator_is_reproducible(tmp_path):
    """The committed layers are byte for byte what the seeded script makes."""
    demo.generate(tmp_path)
    committed = sorted(str(p.relative_to(DEMO)) for p in DEMO.rglob("*") if p.is_file())
    assert committed == sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    for name in committed:
        if name in ("registry.yaml", "hazards/HAZARDS.yaml"):  # the rules path is relative to where it was written
            strip = lambda text: [line for line in text.splitlines() if not line.startswith("rules:")]  # noqa: E731
            assert strip((DEMO / name).read_text(encoding="utf-8")) == strip(
                (tmp_path / name).read_text(encoding="utf-8")
            )
        else:
            assert (DEMO / name).read_bytes() == (tmp_path / name).read_bytes(), name


# ----------------------------------------------------------------------------------------------
# `kgspatial demo` end to end


def test_demo_end_to_end(demo_run):
    out, rc, elapsed, summary = demo_run
    assert rc == 1  # conflicts, and one plan that cannot be read
    assert elapsed < 15 * 60
    assert summary["failed"] == [{"id": "qhpk-kien-luong", "reason": summary["failed"][0]["reason"]}]
    assert ".shx" in summary["failed"][0]["reason"]
    assert summary["plans"]["total"] == 14 and summary["plans"]["checked"] == 13
    for name in ("summary.json", "report.html", "report.xlsx", "report.pdf"):
        assert (out / name).is_file(), name
    for row in summary["by_plan"]:
        if row["status"] == "checked":
            assert (out / row["plan_id"] / "conflicts.gpkg").is_file()
            assert (out / row["plan_id"] / "summary.json").is_file()
    assert summary["by_admin"] and summary["by_admin_previous"]
    assert {r["type"] for r in summary["by_plan_type"]} >= PLAN_TYPES


@pytest.mark.parametrize(
    "plan_id,feature,master_code,verdict,severity,kind,size", PLANTED, ids=[f"{p[0]}:{p[1]}" for p in PLANTED]
)
def test_planted_conflicts(demo_run, plan_id, feature, master_code, verdict, severity, kind, size):
    out = demo_run[0]
    rows = gpd.read_file(out / plan_id / "conflicts.gpkg", layer="conflicts")
    mine = rows[(rows["plan_feature"] == feature) & (rows["master_code"] == master_code)]
    assert len(mine) >= 1
    assert set(mine["verdict"]) == {verdict} and set(mine["severity"]) == {severity}
    assert set(mine["kind"]) == {kind}
    if kind == "polygon":
        assert len(mine) == 1  # one zone, one commune: one piece
        assert mine["area_m2"].iloc[0] == pytest.approx(size, abs=1e-3)
        assert mine["share"].iloc[0] == pytest.approx(1.0)
        # Its communes, found independently by a spatial join of the plan feature's centre.
        centre = gpd.GeoDataFrame(geometry=[mine.geometry.iloc[0].centroid], crs=rows.crs)
        for layer_file, column in (("communes.gpkg", "admin_code"), ("communes_2024.gpkg", "admin_prev_code")):
            units = gpd.read_file(DEMO / layer_file)
            hit = gpd.sjoin(centre, units, predicate="within")
            assert list(hit["ma_xa"]) == [mine[column].iloc[0]]
    elif kind == "line":
        assert mine["length_m"].sum() == pytest.approx(size, abs=0.01)
    else:
        assert len(mine) == size


def test_demo_resume_reuses_everything(demo_run):
    out = demo_run[0]
    rc = _cli(["demo", "--out", str(out), "--resume", "--report", "html", "-q"])
    assert rc == 1
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["plans"]["unchanged"] == 13 and summary["plans"]["checked"] == 0
    assert summary["totals"]["conflict_area_m2"] == pytest.approx(demo_run[3]["totals"]["conflict_area_m2"])


def test_demo_register_has_every_legal_status_and_its_exception(demo_run, tmp_path):
    """The demo register (CONTRACT §7, §10) on two days either side of the review deadline, from
    the demo run's results; statuses worked out from layers/demo/registry.yaml by hand."""
    out = demo_run[0]
    rows = gpd.read_file(out / "qhc-rach-gia" / "conflicts.gpkg", layer="conflicts")
    accepted = rows[rows["review"] == "excepted"]
    assert list(accepted["plan_feature"]) == ["QHC-RG-MR01"] and list(accepted["review_decision"]) == ["45/NQ-HĐND"]
    assert accepted["area_m2"].iloc[0] == pytest.approx(400 * 250)
    by_plan = {r["plan_id"]: r for r in demo_run[3]["by_plan"]}
    assert by_plan["qhc-rach-gia"]["excepted"] == 1
    # The 2005 plan is the 2019 one's blocks without the expansion MR01: once MR01's row is
    # excepted, both have the same open conflicts.
    old, new = by_plan["qhc-rach-gia-2005"], by_plan["qhc-rach-gia"]
    assert (old["conflicts"], old["excepted"]) == (new["conflicts"], 0)
    assert old["conflict_area_m2"] == pytest.approx(new["conflict_area_m2"])

    # Overdue from 1 Jan 2026: the 10 plans under review (9 in force, the draft) but the draft,
    # which is consistent, and nong-thon-hon-dat, due on 2026-06-30: 8.
    for day, overdue in (("2025-12-31", 0), ("2026-01-01", 8)):
        reg_out = tmp_path / day
        assert (
            _cli(["register", str(DEMO / "registry.yaml"), "--out", str(reg_out), "--on", day, "--results", str(out)])
            == 0
        )
        content = json.loads((reg_out / "register.json").read_text(encoding="utf-8"))
        assert content["counts"]["legal_status"] == {
            "abolished": 1,
            "superseded": 1,
            "expired": 1,
            "past_horizon": 1 if day == "2026-01-01" else 0,
            "draft": 1,
            "in_force": 9 if day == "2026-01-01" else 10,
        }
        status = {r["id"]: (r["legal_status"], r["review_status"]) for r in content["plans"]}
        assert status["qhc-rach-gia-2005"] == ("superseded", "not_required")
        assert status["qhc-phu-quoc-2045"] == ("draft", "consistent")
        assert status["qhpk-rach-gia"] == ("in_force", "needs_adjustment")  # its parent conflict
        assert status["thuy-loi"][0] == "expired" and status["cap-nuoc-rac"][0] == "abolished"
        # 2025 is the last year of qhpk-kien-luong: in force (its check failed) on 31 December only
        assert status["qhpk-kien-luong"] == (
            ("past_horizon", "not_required") if day == "2026-01-01" else ("in_force", "failed")
        )
        assert content["counts"]["overdue"] == overdue  # the review deadline is 2025-12-31
    import openpyxl
    import pypdf

    public = [
        r for r in openpyxl.load_workbook(reg_out / "register.xlsx")["Danh mục công bố"].iter_rows(values_only=True)
    ]
    names = {row[1] for row in public[1:]}
    assert names == {
        "Quy hoạch thủy lợi vùng Tứ giác Long Xuyên và U Minh Thượng",
        "Quy hoạch cấp nước và xử lý chất thải rắn tỉnh Kiên Giang",
    }
    import unicodedata

    text = unicodedata.normalize(
        "NFC",
        " ".join(
            " ".join(page.extract_text().split()) for page in pypdf.PdfReader(str(reg_out / "register.pdf")).pages
        ),
    )
    assert "Quy hoạch thủy lợi vùng Tứ giác Long Xuyên và U Minh Thượng" in text and "3011/QĐ-BNN-TL" in text
