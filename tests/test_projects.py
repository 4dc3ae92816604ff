"""Priority projects and land-use indicators (CONTRACT §9), with figures worked out by hand.

The scene is tests/geoms.py: master M0 LUC [0,100]×[0,100], M1 RPH [100,200]×[0,100], M2 ODT
[0,200]×[100,200]; its rules (R01 ODT/LUC conflict, R02 */RPH conflict, R03 DGT/LUC conditional,
R04 TMD/ODT conditional, R05 DNL/* compatible). Three registered plans:
    qh-a (approved 2020-01-31): ODT [20,69]×[110,150], DGT [10,51]×[45,55], ODT [0,80]×[160,200]
    qh-b (approved 2022-06-01): ODT [20,71]×[110,150], ODT [20,50]×[110,150] (inside the first),
                                RPH [140,160]×[40,60], TMD [40,80]×[160,200]
    qh-c (approved 2019-01-01, integrated: expired from 3 Nov 2023): ODT [0,200]×[100,200], DGT [0,100]×[40,60]
Projects, by hand:
    PA ODT [20,120]×[110,150], 4000 m²: on ODT (same code) -> consistent; qh-a gives ODT to 49×40 =
       1960 m² = 49 %, qh-b 51×40 = 2040 m² = 51 % (its two ODT features overlap: counted once) -> [qh-b]
    PB TMD [120,180]×[120,180]: on ODT, R04 -> conditional 3600 m²
    PC ODT [10,10]-[60,60]: on LUC, R01 -> conflict 2500 m²
    PD SKK [150,80]-[190,120]: 800 m² on RPH (R02, conflict) and 800 m² on ODT (no rule) -> conflict
    PE SKK [20,150]-[60,190]: on ODT only, no rule -> unreviewed
    PF DNL point (150,50): in RPH, but R05 (DNL/*) is more specific on the plan side -> consistent;
       inside qh-b's RPH feature, compatible by R05 -> [qh-b]
    PG DGT line (10,50)-(90,50), 80 m: on LUC, R03 -> conditional; qh-a's DGT covers x 10..51 = 41 m =
       51.25 % -> [qh-a]; qh-c's DGT covers all of it, but qh-c has expired -> it counts for nothing
    PH ODT [300,400]×[0,100] and PI DNL point (500,500): off the master -> outside_master
Units: A [0,80]×[0,200] (the overlap with B goes to A), B [80,200]×[0,200]; pre-2025 X1 [0,100]×[0,200].
"""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
import yaml
from openpyxl import load_workbook
from pyproj.transformer import TransformerGroup

from kgspatial.cli import main
from kgspatial.errors import KgSpatialError
from kgspatial.indicators import run_indicators, verdict
from kgspatial.projects import ProjectsError, load_vocabulary, parse_number, run_projects, schedule
from tests import geoms
from tests.geoms import CRS, X0, Y0, box, line, point

D = dt.date
ON = D(2026, 1, 1)
FIELDS = {
    "id_field": "ma_da",
    "name_field": "ten_da",
    "code_field": "ma_dat",
    "sector_field": "linh_vuc",
    "phase_field": "giai_doan",
    "status_field": "tinh_trang",
    "capital_field": "von",
    "funding_field": "nguon_von",
}
PROJECTS = [
    ("PA", "ODT", box(20, 110, 120, 150)),
    ("PB", "TMD", box(120, 120, 180, 180)),
    ("PC", "ODT", box(10, 10, 60, 60)),
    ("PD", "SKK", box(150, 80, 190, 120)),
    ("PE", "SKK", box(20, 150, 60, 190)),
    ("PF", "DNL", point(150, 50)),
    ("PG", "DGT", line((10, 50), (90, 50))),
    ("PH", "ODT", box(300, 0, 400, 100)),
    ("PI", "DNL", point(500, 500)),
]
# Vietnamese values as offices write them (an en dash, capitals, the old tone placement "huỷ").
PHASE = ["Giai đoạn 2021 – 2025"] * 5 + ["2026-2030"] * 4
STATUS = [
    "đang thi công",
    "Hoàn thành",
    "huỷ bỏ",
    "đề xuất",
    "đề xuất",
    "chuẩn bị đầu tư",
    "approved",
    "đề xuất",
    "proposed",
]
CAPITAL = ["1.250,5", 300, None, "12", "0,5", 7, 8, 9, 10]
FUNDING = ["Đầu tư công", "PPP", "oda", "tư nhân", None, "hỗn hợp", "public", "public", "ODA"]


def _plan_file(folder, name, rows):
    gpd.GeoDataFrame(
        {"ma": [r[0] for r in rows], "ten": [r[0] for r in rows], "so_hieu": [f"{name}-{i}" for i in range(len(rows))]},
        geometry=[r[1] for r in rows],
        crs=CRS,
    ).to_file(folder / f"{name}.gpkg")


def _entry(pid, path, **kw):
    entry = {
        "id": pid,
        "name": f"Quy hoạch {pid}",
        "type": "urban_general",
        "path": path,
        "code_field": "ma",
        "label_field": "ten",
        "id_field": "so_hieu",
        "decision": "1/QĐ-UBND",
        "approved": "2020-01-31",
        "authority": "UBND tỉnh Kiên Giang",
    }
    entry.update(kw)
    return entry


INDICATORS_CSV = """unit_code,code,bound,target_ha,tolerance_pct,source
A,ODT,max,0.5,,Quyết định 1289/QĐ-TTg
A,TMD,target,0.16,5,
X1,LUC,min,1.0,,
*,NNP,target,2.1,5,
B,ODT,target,1.2,,
"""


@pytest.fixture()
def scene(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    geoms.master_frame().to_file(d / "master.gpkg")
    (d / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    geoms.units_frame().to_file(d / "units.gpkg")
    gpd.GeoDataFrame(
        {"ma_xa": ["X1", "X2"], "ten_xa": ["Xã Vĩnh Thanh cũ", "Xã Phi Thông cũ"]},
        geometry=[box(0, 0, 100, 200), box(100, 0, 200, 200)],
        crs=CRS,
    ).to_file(d / "units_2024.gpkg")
    _plan_file(d, "qh_a", [("ODT", box(20, 110, 69, 150)), ("DGT", box(10, 45, 51, 55)), ("ODT", box(0, 160, 80, 200))])
    _plan_file(
        d,
        "qh_b",
        [
            ("ODT", box(20, 110, 71, 150)),
            ("ODT", box(20, 110, 50, 150)),
            ("RPH", box(140, 40, 160, 60)),
            ("TMD", box(40, 160, 80, 200)),
        ],
    )
    _plan_file(d, "qh_c", [("ODT", box(0, 100, 200, 200)), ("DGT", box(0, 40, 100, 60))])
    gpd.GeoDataFrame(
        {
            "ma_da": [p[0] for p in PROJECTS],
            "ten_da": [f"Dự án {p[0]}" for p in PROJECTS],
            "ma_dat": [p[1] for p in PROJECTS],
            "linh_vuc": ["Giao thông"] * 9,
            "giai_doan": PHASE,
            "tinh_trang": STATUS,
            "von": CAPITAL,
            "nguon_von": FUNDING,
        },
        geometry=[p[2] for p in PROJECTS],
        crs=CRS,
    ).to_file(d / "du_an.gpkg", geometry_type="Unknown")
    (d / "chi_tieu.csv").write_text(INDICATORS_CSV, encoding="utf-8")
    return d


def _registry(folder, projects=None, indicators="chi_tieu.csv", **top):
    data = {
        "province": "kien-giang",
        "master": {"path": "master.gpkg", "code_field": "MA_QH", "label_field": "TEN"},
        "admin": {"path": "units.gpkg", "code_field": "ma_xa", "name_field": "ten_xa"},
        "admin_previous": {"path": "units_2024.gpkg", "code_field": "ma_xa", "name_field": "ten_xa"},
        "rules": "rules.csv",
        "plans": [
            _entry("qh-a", "qh_a.gpkg"),
            _entry("qh-b", "qh_b.gpkg", approved="2022-06-01"),
            _entry("qh-c", "qh_c.gpkg", approved="2019-01-01", integrated=True),
        ],
        "projects": projects or {"path": "du_an.gpkg", **FIELDS},
        "indicators": indicators,
        **top,
    }
    path = folder / "registry.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _by_id(result):
    return {r["id"]: r for r in result.rows}


def test_siting_reservation_and_values_by_hand(scene, tmp_path):
    result = run_projects(_registry(scene), tmp_path / "out", ON)
    rows = _by_id(result)
    assert {k: r["siting"] for k, r in rows.items()} == {
        "PA": "consistent",
        "PB": "conditional",
        "PC": "conflict",
        "PD": "conflict",
        "PE": "unreviewed",
        "PF": "consistent",
        "PG": "conditional",
        "PH": "outside_master",
        "PI": "outside_master",
    }
    # Reservation: each plan on its own, at least half; the expired qh-c counts for nothing.
    assert rows["PA"]["reserved_share"] == {"qh-a": 0.49, "qh-b": 0.51}
    assert rows["PA"]["reserved_in"] == ["qh-b"]
    assert rows["PG"]["reserved_share"] == {"qh-a": pytest.approx(41 / 80)} and rows["PG"]["reserved_in"] == ["qh-a"]
    assert rows["PF"]["reserved_in"] == ["qh-b"]
    assert all(not rows[k]["reserved_in"] for k in ("PB", "PC", "PD", "PE", "PH", "PI"))
    assert result.in_force == ["qh-a", "qh-b"]
    # Vietnamese values, the Vietnamese decimal comma and thousands point
    assert [rows[k]["status"] for k in ("PA", "PB", "PC", "PD")] == [
        "under_construction",
        "completed",
        "cancelled",
        "proposed",
    ]
    assert rows["PA"]["phase"] == "2021-2025" and rows["PA"]["capital"] == 1250.5 and rows["PE"]["capital"] == 0.5
    assert [rows[k]["funding"] for k in ("PA", "PB", "PC", "PD", "PE", "PF")] == [
        "public",
        "ppp",
        "oda",
        "private",
        None,
        "mixed",
    ]
    # Schedules on 1 Jan 2026: the 2021-2025 phase has ended.
    assert {k: r["schedule"] for k, r in rows.items()} == {
        "PA": "overdue",
        "PB": "on_track",
        "PC": "on_track",
        "PD": "overdue",
        "PE": "overdue",
        "PF": "on_track",
        "PG": "on_track",
        "PH": "on_track",
        "PI": "on_track",
    }
    assert all(r["hazard"] is None for r in result.rows) and result.hazards_configured is False
    assert result.exit_code == 1
    assert rows["PA"]["area_m2"] == 4000 and rows["PG"]["length_m"] == 80
    # the unit holding most of it: PA [20,120] has 60 m in A [0,80], 40 m in B; PG 70 m in A, 10 m in B;
    # PD [150,190] lies in B; PH and PI lie in no unit
    units = {k: r["admin_code"] for k, r in rows.items()}
    assert (units["PA"], units["PG"], units["PD"], units["PH"], units["PI"]) == ("A", "A", "B", "", "")


def test_outputs_as_the_contract_says(scene, tmp_path):
    out = tmp_path / "out"
    rc = main(["projects", str(_registry(scene)), "--out", str(out), "--on", "2026-01-01", "-q"])
    assert rc == 1
    data = json.loads((out / "projects.json").read_text(encoding="utf-8"))
    assert data["on"] == "2026-01-01"
    keys = {
        "id",
        "name",
        "sector",
        "phase",
        "status",
        "capital",
        "funding",
        "siting",
        "reserved_in",
        "hazard",
        "schedule",
    }
    assert all(keys <= set(r) for r in data["projects"]) and len(data["projects"]) == 9
    assert {lyr for lyr, _ in pyogrio.list_layers(out / "projects.gpkg")} == {"conflicts", "projects"}
    conflicts = gpd.read_file(out / "projects.gpkg", layer="conflicts")
    assert set(conflicts["plan_id"]) == {"projects"}
    got = {(r.plan_feature, r.verdict, r.admin_code): (r.area_m2, r.length_m) for r in conflicts.itertuples()}
    # PG crosses the unit border at x = 80: 70 m in A and 10 m in B
    assert got == {
        ("PB", "conditional", "B"): (3600, 0),
        ("PC", "conflict", "A"): (2500, 0),
        ("PD", "conflict", "B"): (800, 0),
        ("PG", "conditional", "A"): (0, 70),
        ("PG", "conditional", "B"): (0, 10),
    }
    layer = gpd.read_file(out / "projects.gpkg", layer="projects")
    assert len(layer) == 9 and layer.crs.to_epsg() == 9207
    assert dict(zip(layer["project_id"], layer["reserved_in"]))["PA"] == "qh-b"
    wb = load_workbook(out / "projects.xlsx")
    assert wb.sheetnames == ["Dự án", "Tổng hợp dự án", "Chậm tiến độ", "Chưa bố trí quỹ đất"]
    matrix = [row for row in wb["Tổng hợp dự án"].iter_rows(min_row=2, values_only=True)]
    # phase × sector × status: 2021-2025 has one under construction (1250.5), one completed (300),
    # one cancelled (no capital) and two proposed (12 + 0.5)
    assert ("2021-2025", "Giao thông", "Đề xuất", 2, 12.5) in matrix
    assert ("2021-2025", "Giao thông", "Đang thi công", 1, 1250.5) in matrix
    assert ("2026-2030", "Giao thông", "Đề xuất", 2, 19.0) in matrix
    overdue = [row[0] for row in wb["Chậm tiến độ"].iter_rows(min_row=2, values_only=True)]
    assert overdue == ["PA", "PD", "PE"]
    unreserved = [row[0] for row in wb["Chưa bố trí quỹ đất"].iter_rows(min_row=2, values_only=True)]
    assert unreserved == ["PB", "PC", "PD", "PE", "PH", "PI"]


@pytest.mark.parametrize(
    ("phase", "status", "on", "expected"),
    [
        ("2021-2025", "under_construction", D(2025, 12, 31), "on_track"),
        ("2021-2025", "under_construction", D(2026, 1, 1), "overdue"),
        ("2021-2025", "suspended", D(2026, 1, 1), "overdue"),
        ("2021-2025", "completed", D(2026, 1, 1), "on_track"),
        ("2021-2025", "cancelled", D(2030, 1, 1), "on_track"),
        ("2021-2025", "proposed", D(2023, 1, 1), "on_track"),  # exactly two years in: not over two
        ("2021-2025", "proposed", D(2023, 1, 2), "late_start"),
        ("2021-2025", "proposed", D(2026, 1, 1), "overdue"),  # overdue comes first
        ("2026-2030", "proposed", D(2028, 1, 1), "on_track"),
        ("2026-2030", "proposed", D(2028, 1, 2), "late_start"),
        ("2026-2030", "preparing", D(2028, 6, 1), "on_track"),
        ("2026-2030", "approved", D(2030, 12, 31), "on_track"),
        ("2026-2030", "approved", D(2031, 1, 1), "overdue"),
        ("2031-2050", "proposed", D(2026, 1, 1), "on_track"),
        ("2031-2050", "proposed", D(2033, 1, 2), "late_start"),
    ],
)
def test_schedule_on_both_sides_of_each_boundary(phase, status, on, expected):
    assert schedule(phase, status, on) == expected


def test_the_date_decides_which_plans_reserve(scene, tmp_path):
    # On 2 Nov 2023 qh-c (integrated) is still in force: its DGT covers all of PG, its ODT all of PA;
    # qh-b (approved 1 Jun 2022) is in force too; qh-a as well.
    rows = _by_id(run_projects(_registry(scene), tmp_path / "out", D(2023, 11, 2)))
    assert rows["PG"]["reserved_in"] == ["qh-a", "qh-c"] and rows["PA"]["reserved_in"] == ["qh-b", "qh-c"]
    rows = _by_id(run_projects(_registry(scene), tmp_path / "out", D(2023, 11, 3)))
    assert rows["PG"]["reserved_in"] == ["qh-a"] and rows["PA"]["reserved_in"] == ["qh-b"]
    # Before qh-b's approval only qh-a and qh-c are in force.
    rows = _by_id(run_projects(_registry(scene), tmp_path / "out", D(2022, 5, 31)))
    assert rows["PA"]["reserved_in"] == ["qh-c"] and rows["PF"]["reserved_in"] == []


def _lonlat(x, y):
    """lon/lat of an EPSG:9207 point through the EPSG database's own 'VN-2000 to WGS 84 (2)'
    operation, picked by name from pyproj (not kgspatial's code)."""
    group = TransformerGroup("EPSG:9207", "EPSG:4326", always_xy=True)
    t = next(t for t in group.transformers if "VN-2000 to WGS 84 (2)" in t.description)
    return t.transform(x, y)


def test_a_csv_of_points_in_lon_lat_or_x_y(scene, tmp_path):
    lon, lat = _lonlat(X0 + 150, Y0 + 50)  # PF's place: in RPH, inside qh-b's RPH feature
    lon2, lat2 = _lonlat(X0 + 50, Y0 + 50)  # in LUC
    (scene / "du_an.csv").write_text(
        "ma_da;ten_da;ma_dat;linh_vuc;giai_doan;tinh_trang;von;nguon_von;lat;lon\n"
        f'T1;Trạm biến áp 110 kV;DNL;Năng lượng;GĐ 2026-2030;đang triển khai;"1.200,75";PPP;{str(lat).replace(".", ",")};'
        f"{str(lon).replace('.', ',')}\n"
        f"T2;Khu dân cư;ODT;Đô thị;2026 - 2030;Dự kiến;5;vốn ODA;{lat2:.10f};{lon2:.10f}\n",
        encoding="utf-8",
    )
    reg = _registry(scene, projects={"path": "du_an.csv", **FIELDS})
    result = run_projects(reg, tmp_path / "out", ON)
    xy = np.array([(g.x - X0, g.y - Y0) for g in result.frame.geometry])
    assert np.abs(xy - [[150, 50], [50, 50]]).max() < 0.001  # 1 mm
    rows = _by_id(result)
    assert rows["T1"]["siting"] == "consistent" and rows["T1"]["reserved_in"] == ["qh-b"]
    assert rows["T1"]["capital"] == 1200.75 and rows["T1"]["status"] == "under_construction"
    assert rows["T2"]["siting"] == "conflict" and rows["T2"]["funding"] == "oda" and rows["T2"]["status"] == "proposed"
    # x/y in the analysis CRS: no transformation at all
    (scene / "du_an_xy.csv").write_text(
        "id,name,code,sector,phase,status,capital,funding,x,y\n"
        f"T3,Trạm bơm,DTL,Thủy lợi,2021-2025,completed,3,public,{X0 + 150},{Y0 + 150}\n",
        encoding="utf-8",
    )
    result = run_projects(_registry(scene, projects={"path": "du_an_xy.csv"}), tmp_path / "out2", ON)
    assert result.frame.geometry[0].equals(point(150, 150)) and result.rows[0]["siting"] == "unreviewed"


def test_bad_values_are_listed_at_once_and_nothing_is_written(scene, tmp_path, capsys):
    (scene / "xau.csv").write_text(
        "id,name,code,sector,phase,status,capital,funding,x,y\n"
        f"B1,Một,ODT,Đô thị,2021-2030,proposed,1,public,{X0 + 10},{Y0 + 10}\n"
        f"B1,Hai,XYZ,Đô thị,2026-2030,đang làm,-5,quỹ riêng,{X0 + 20},{Y0 + 20}\n"
        f",Ba,ODT,Đô thị,,completed,nhiều,public,105.08,10.01\n"
        f"B4,Bốn,ODT,Đô thị,2026-2030,completed,1,public,abc,{Y0}\n",
        encoding="utf-8",
    )
    reg = _registry(scene, projects={"path": "xau.csv"})
    with pytest.raises(ProjectsError) as info:
        run_projects(reg, tmp_path / "out", ON)
    problems = info.value.problems
    text = "\n".join(problems)
    for needle in (
        "row 2 (B1), phase: '2021-2030'",
        "row 3 (B1), id: 'B1' already used",
        "code: 'XYZ'",
        "status: 'đang làm'",
        "capital: '-5' is negative",
        "funding: 'quỹ riêng'",
        "row 4, id: empty",
        "row 4, phase: empty",
        "capital: 'nhiều' is not a number",
        "look like degrees",
        "row 5 (B4), x/y: 'abc'",
    ):
        assert needle in text, needle
    assert len(problems) == 11
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["projects", str(reg), "--out", str(out), "-q"])
    assert exit_info.value.code == 2 and not out.exists()
    assert "11 problem(s)" in capsys.readouterr().err


def test_missing_columns_and_a_registry_without_projects(scene, tmp_path):
    (scene / "thieu.csv").write_text("ten,lon,lat\nA,105,10\n", encoding="utf-8")
    with pytest.raises(ProjectsError) as info:
        run_projects(_registry(scene, projects={"path": "thieu.csv", "status_field": "TinhTrang"}), tmp_path / "o", ON)
    text = str(info.value)
    assert "projects.status_field: no column 'TinhTrang'" in text
    assert "project's id" in text and "project's code" in text and "project's phase" in text
    path = _registry(scene)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["projects"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KgSpatialError, match="no `projects:` key"):
        run_projects(path, tmp_path / "o", ON)


def test_vocabulary_and_numbers():
    vocab = load_vocabulary()
    assert vocab.canonical("status", "ĐANG THI CÔNG") == "under_construction"
    assert vocab.canonical("status", "hủy bỏ") == vocab.canonical("status", "huỷ bỏ") == "cancelled"
    assert vocab.canonical("status", "dang thi cong") == "under_construction"  # typed without marks
    assert vocab.canonical("phase", "giai đoạn 2026—2030") == "2026-2030"
    assert vocab.canonical("phase", "Sau năm 2030") == "2031-2050"
    assert vocab.canonical("funding", "Đối tác công tư") == "ppp"
    assert vocab.canonical("status", "đang làm") is None
    assert parse_number("1.250,5") == 1250.5 and parse_number("1,250.5") == 1250.5
    assert parse_number("1.250.000") == 1250000 and parse_number("12,5") == 12.5 and parse_number("") is None


# ---------------------------------------------------------------- indicators


def test_indicators_by_hand(scene, tmp_path):
    result = run_indicators(_registry(scene), tmp_path / "out", ON)
    rows = result.rows
    # ODT in unit A [0,80]: master M2 ∩ A = 80 × 100 = 0.8 ha > 0.5 max. Plans in force: qh-b (2022)
    # is more recent than qh-a (2020): qh-b's ODT 51 × 40 = 2040 m², then qh-a's ODT outside qh-b:
    # [20,69]×[110,150] is all under qh-b, [0,80]×[160,200] less qh-b's TMD [40,80]×[160,200] is
    # 40 × 40 = 1600 m²: 0.364 ha. (Were qh-a the more recent: 1960 + 3200 + 80 = 0.524 ha.)
    assert rows[0]["master_ha"] == 0.8 and rows[0]["master_verdict"] == "over"
    assert rows[0]["plans_ha"] == 0.364 and rows[0]["plans_verdict"] == "ok"
    assert rows[0]["plans_detail"] == {"qh-b": 0.204, "qh-a": 0.16}
    # TMD in A: master none (under 0.16 - 5 %), plans qh-b's 1600 m² = 0.16 ha (ok)
    assert (rows[1]["master_ha"], rows[1]["master_verdict"], rows[1]["plans_ha"], rows[1]["plans_verdict"]) == (
        0.0,
        "under",
        0.16,
        "ok",
    )
    # The pre-2025 unit X1 [0,100]×[0,200] holds all of M0 LUC (1 ha: ok at min 1), unit A only 0.8
    assert rows[2]["units"] == "admin_previous" and rows[2]["master_ha"] == 1.0 and rows[2]["master_verdict"] == "ok"
    assert rows[2]["plans_ha"] == 0.0 and rows[2]["plans_verdict"] == "under"
    # The whole province, group NNP (LUC + RPH): 2 ha, inside 2.1 ± 5 % (1.995..2.205); plans: qh-b's RPH 400 m²
    assert (rows[3]["master_ha"], rows[3]["master_verdict"], rows[3]["plans_ha"], rows[3]["plans_verdict"]) == (
        2.0,
        "ok",
        0.04,
        "under",
    )
    # Unit B [80,200]: ODT 120 × 100 = 1.2 ha, target with the default 5 %
    assert rows[4]["tolerance_pct"] == 5.0 and rows[4]["master_ha"] == 1.2 and rows[4]["master_verdict"] == "ok"
    assert [r["source"] for r in rows][0] == "Quyết định 1289/QĐ-TTg"
    assert result.exit_code == 1
    written = json.loads((tmp_path / "out" / "indicators.json").read_text(encoding="utf-8"))
    assert [r["unit_code"] for r in written["rows"]] == ["A", "A", "X1", "*", "B"]
    keys = {
        "unit_code",
        "code",
        "bound",
        "target_ha",
        "tolerance_pct",
        "master_ha",
        "master_verdict",
        "plans_ha",
        "plans_verdict",
        "source",
    }
    assert all(keys <= set(r) for r in written["rows"])
    # Before qh-b was approved (and with qh-c, approved 2019, in force under both): qh-a applies over qh-c.
    early = run_indicators(_registry(scene), tmp_path / "out2", D(2022, 5, 31)).rows
    # ODT in A: qh-a 1960 + 3200 = 5160 m²; qh-c's ODT [0,200]×[100,200] ∩ A = 8000 less qh-a's cover
    # (5160 of it, DGT lies below y 100) = 2840 m²: 0.8 ha in all
    assert early[0]["plans_ha"] == 0.8 and early[0]["plans_detail"] == {"qh-a": 0.516, "qh-c": 0.284}


@pytest.mark.parametrize(
    ("value", "bound", "target", "tol", "expected"),
    [
        (105.0, "target", 100, 5, "ok"),
        (105.0001, "target", 100, 5, "over"),
        (95.0, "target", 100, 5, "ok"),
        (94.9999, "target", 100, 5, "under"),
        (102.0, "target", 100, None, "ok"),
        (10.0, "max", 10, None, "ok"),
        (10.0001, "max", 10, None, "over"),
        (9.9999, "min", 10, None, "under"),
        (10.0, "min", 10, None, "ok"),
        (0.0, "max", 0, None, "ok"),
    ],
)
def test_verdicts_on_both_sides_of_each_bound(value, bound, target, tol, expected):
    assert verdict(value, bound, target, tol) == expected


def test_bad_indicator_rows_are_listed_at_once(scene, tmp_path, capsys):
    (scene / "xau.csv").write_text(
        "unit_code,code,bound,target_ha,tolerance_pct,source\n"
        "Z9,ODT,max,1,,\nA,XYZ,min,1,,\nA,ODT,about,1,,\nA,ODT,target,nhiều,,\nA,ODT,max,1,5,\n,ODT,max,1,,\n",
        encoding="utf-8",
    )
    reg = _registry(scene, indicators="xau.csv")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["indicators", str(reg), "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and not out.exists()
    for needle in (
        "row 2, unit_code: 'Z9' mã đơn vị hành chính không có / is not a code",
        "row 3, code: 'XYZ' không phải mã hay nhóm loại đất / is not a taxonomy code or group",
        "row 4, bound: 'about' không phải max, min, target / is not one of max, min, target",
        "row 5, target_ha: 'nhiều' không phải số héc-ta / is not a number of hectares",
        "row 6, tolerance_pct: chỉ tiêu max không có dung sai (chỉ target có) / a max bound takes no tolerance",
        "row 7, unit_code: trống",
        "6 problem(s)",
    ):
        assert needle in err, needle  # Vietnamese first, then English, as every other message


# ---------------------------------------------------------------- in a batch run


def test_batch_writes_projects_and_indicators_into_its_reports_and_map(scene, tmp_path):
    from kgspatial.batch import BatchOptions, run_batch

    out = tmp_path / "batch"
    result = run_batch(
        BatchOptions(registry=_registry(scene), out=out, formats=("html", "xlsx", "pdf"), plan_maps=False)
    )
    assert result.exit_code == 1
    today = dt.date.today()  # batch runs for the day: qh-c has expired (after 3 Nov 2023), qh-b is in force
    assert result.projects.on == today and _by_id(result.projects)["PA"]["reserved_in"] == ["qh-b"]
    data = json.loads((out / "projects.json").read_text(encoding="utf-8"))
    assert len(data["projects"]) == 9 and (out / "projects.gpkg").is_file() and (out / "projects.xlsx").is_file()
    rows = json.loads((out / "indicators.json").read_text(encoding="utf-8"))["rows"]
    assert rows[0]["plans_ha"] == 0.364
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["projects"]["siting"]["conflict"] == 2 and summary["projects"]["not_reserved"] == 6
    assert summary["indicators"]["master_over"] == 1 and summary["indicators"]["plans_under"] == 3
    page = (out / "report.html").read_text(encoding="utf-8")
    for text in (
        "Dự án đầu tư trọng điểm",
        "Dự án chưa được bố trí quỹ đất",
        "Chỉ tiêu sử dụng đất",
        "Số dự án và vốn theo giai đoạn, lĩnh vực, tình trạng",
        "1.250,5",
        "Vượt ▲",
        "Thiếu ▼",
        # the phase's total: 5 projects, 1,250.5 + 300 + 12 + 0.5 billion VND (PC has none)
        '<td>Tổng 2021-2025</td><td></td><td class="n">5</td><td class="n">1.563,0</td>',
    ):
        assert text in page, text
    wb = load_workbook(out / "report.xlsx")
    assert {"Dự án", "Tổng hợp dự án", "Chậm tiến độ", "Chưa bố trí quỹ đất", "Chỉ tiêu SDĐ"} <= set(wb.sheetnames)
    first = next(wb["Chỉ tiêu SDĐ"].iter_rows(min_row=2, values_only=True))
    assert first[:3] == ("A", "Phường Vĩnh Thanh", "ODT") and first[6] == 0.8 and first[7] == "Vượt"
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(out / "report.pdf").pages)
    assert "Chỉ tiêu sử dụng đất" in text and "Dự án đầu tư trọng điểm" in text
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "Priority projects (9)" in page and "Dự án PA [PA] · Phù hợp · Đang thi công" in page


def test_batch_stops_before_any_work_on_bad_projects(scene, tmp_path, capsys):
    (scene / "xau.csv").write_text(
        "id,name,code,sector,phase,status,capital,funding,lon,lat\n"
        "B1,Một,ODT,Đô thị,2021-2030,proposed,1,public,105,10\n",
        encoding="utf-8",
    )
    (scene / "xau_ct.csv").write_text(
        "unit_code,code,bound,target_ha,tolerance_pct,source\nZ9,ODT,max,1,,\n", encoding="utf-8"
    )
    out = tmp_path / "batch"
    with pytest.raises(SystemExit) as info:
        main(
            [
                "batch",
                str(_registry(scene, projects={"path": "xau.csv"}, indicators="xau_ct.csv")),
                "--out",
                str(out),
                "-q",
                "--report",
                "none",
            ]
        )
    err = capsys.readouterr().err
    assert info.value.code == 2 and not out.exists()
    assert "phase: '2021-2030'" in err and "unit_code: 'Z9'" in err and "2 problem(s)" in err


def test_the_hazard_seam_picks_each_projects_highest_band():
    """hazard_bands reads the §8 hazards layer's rows; hazard screening (issue 14) feeds it once it lands."""
    import pandas as pd

    from kgspatial.projects import hazard_bands

    rows = [
        ("projects", "PA", "slr100", "H1", 0.0, "conditional", "low", 0.4),
        ("projects", "PA", "slr100", "H2", 0.5, "conditional", "medium", 0.9),
        ("projects", "PB", "flood", "H3", 1.0, "conditional", "medium", 1.2),
        ("projects", "PB", "slr100", "H4", 0.5, "conflict", "high", 0.7),
        ("qh-a", "PC", "slr100", "H4", 0.5, "conflict", "high", 0.7),
    ]  # another plan's feature
    findings = pd.DataFrame(
        rows,
        columns=["plan_id", "plan_feature", "hazard_id", "rule_id", "min_depth", "verdict", "severity", "max_depth"],
    )
    bands = hazard_bands(findings, ["PA", "PB", "PC"])
    assert bands["PA"]["rule_id"] == "H2" and bands["PA"]["min_depth"] == 0.5  # the deeper band
    assert bands["PB"]["rule_id"] == "H4"  # a conflict band before a deeper conditional one
    assert bands["PC"] is None
    assert hazard_bands(None, ["PA"]) == {"PA": None}


def test_registry_keys_are_validated_with_the_rest(scene):
    from kgspatial.errors import RegistryError
    from kgspatial.registry import load_registry

    path = _registry(
        scene,
        projects={"path": "khong_co.gpkg", "phase_feild": "giai_doan", "encoding": "tcvn-9"},
        indicators="khong_co.csv",
    )
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert sorted(info.value.problems) == sorted(
        ["projects.phase_feild: unknown key", f"indicators: file not found: {scene / 'khong_co.csv'}"]
    )
    path = _registry(scene, projects={"path": "khong_co.gpkg"})
    with pytest.raises(RegistryError, match="projects.path: file not found"):
        load_registry(path)
    path = _registry(scene, projects={"path": "du_an.gpkg", "encoding": "tcvn-9"}, indicators=5)
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert len(info.value.problems) == 2 and "unknown text encoding 'tcvn-9'" in str(info.value)
    assert "indicators: expected the path of a CSV table" in str(info.value)
    reg = load_registry(_registry(scene, projects="du_an.gpkg"))  # the short form: just the path
    assert reg.projects.path == str(scene / "du_an.gpkg") and reg.indicators == scene / "chi_tieu.csv"


def test_indicators_on_the_real_2025_wards_and_pre_2025_communes(shared_data, tmp_path):
    """Real boundaries (EPSG:4326, read from ../shared/data): one LUC zone over the whole province,
    so a unit's LUC area is the unit's own area: the 2025 wards' stated areaKm2 (to 1 %), and for a
    pre-2025 commune its polygon's geodesic area on the WGS 84 ellipsoid by pyproj.Geod (to 0.5 %;
    the census `area` column, 1,065 ha for Vĩnh Quang, is not its 1:250k polygon's 921-927 ha)."""
    from pyproj import Geod

    d = tmp_path / "real"
    d.mkdir()
    wards = gpd.read_file(shared_data / "an_giang_2025_wards_sapnhap.gpkg", layer="wards")
    wards = wards[wards["former_province"] == "Kiên Giang"]
    communes = gpd.read_file(shared_data / "kg_pre2025_admin_censusVN2009.gpkg", layer="communes")
    vinh_quang = communes.geometry[communes["commune_id"] == 8130104].iloc[0]
    geodesic_ha = abs(Geod(ellps="WGS84").geometry_area_perimeter(vinh_quang)[0]) / 1e4
    bounds = wards.to_crs("EPSG:9207").total_bounds
    zone = shapely.box(bounds[0] - 1000, bounds[1] - 1000, bounds[2] + 1000, bounds[3] + 1000)
    gpd.GeoDataFrame({"MA_QH": ["LUC"], "TEN": ["Lúa"]}, geometry=[zone], crs=CRS).to_file(d / "master.gpkg")
    gpd.GeoDataFrame(
        {"ma": ["ODT"], "ten": ["x"], "so_hieu": ["1"]},
        geometry=[shapely.box(*zone.centroid.buffer(50).bounds)],
        crs=CRS,
    ).to_file(d / "plan.gpkg")
    (d / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    (d / "ct.csv").write_text(
        "unit_code,units,code,bound,target_ha,tolerance_pct,source\n"
        "30742,admin,LUC,target,4553,1,areaKm2 45.53\n"
        "30790,admin,LUC,target,28538,1,areaKm2 285.38\n"
        f"8130104,admin_previous,LUC,target,{geodesic_ha:.4f},0.5,pyproj.Geod\n"
        "*,,LUA,min,1,,\n",
        encoding="utf-8",
    )
    reg = {
        "province": "kien-giang",
        "master": {"path": "master.gpkg", "code_field": "MA_QH", "label_field": "TEN"},
        "admin": {
            "path": str(shared_data / "an_giang_2025_wards_sapnhap.gpkg"),
            "layer": "wards",
            "code_field": "code",
            "name_field": "name",
        },
        "admin_previous": {
            "path": str(shared_data / "kg_pre2025_admin_censusVN2009.gpkg"),
            "layer": "communes",
            "code_field": "commune_id",
            "name_field": "commune_vn",
        },
        "rules": "rules.csv",
        "plans": [_entry("p", "plan.gpkg")],
        "indicators": "ct.csv",
    }
    (d / "registry.yaml").write_text(yaml.safe_dump(reg, allow_unicode=True), encoding="utf-8")
    rows = run_indicators(d / "registry.yaml", tmp_path / "out", ON).rows
    assert [r["master_verdict"] for r in rows] == ["ok", "ok", "ok", "ok"], [r["master_ha"] for r in rows]
    assert rows[0]["unit_name"] == "Rạch Giá" and rows[2]["unit_name"] == "Phường Vĩnh Quang"
    assert rows[3]["master_ha"] == pytest.approx(zone.area / 1e4, rel=1e-9)  # the whole province: the zone
    assert len(communes) > 100


def test_hazard_bands_of_the_projects_when_hazards_are_configured(scene, tmp_path):
    """A 20 m grid over the scene's 200 × 200 m: depth 0.2 m west of x = 100, 0.8 m east of it.
    R1 (over 0 m) conditional, R2 (over 0.5 m) conflict."""
    import rasterio
    from rasterio.transform import from_origin

    values = np.array([[0.2] * 5 + [0.8] * 5] * 10, dtype="float32")
    with rasterio.open(
        scene / "depth.tif",
        "w",
        driver="GTiff",
        height=10,
        width=10,
        count=1,
        dtype="float32",
        crs="EPSG:9207",
        transform=from_origin(X0, Y0 + 200, 20, 20),
        nodata=-9999.0,
    ) as ds:
        ds.write(values, 1)
    (scene / "hazard_rules.csv").write_text(
        "rule_id,plan_code,hazard_id,min_depth,verdict,severity,reference,note\n"
        "R1,*,slr,0,conditional,low,minh họa,\nR2,*,slr,0.5,conflict,medium,minh họa,\n",
        encoding="utf-8",
    )
    (scene / "HAZARDS.yaml").write_text(
        "layers:\n  - id: slr\n    name_vi: Ngập\n    name_en: Flooding\n    path: depth.tif\n    scenario: thử\n"
        "rules: hazard_rules.csv\n",
        encoding="utf-8",
    )
    result = run_projects(_registry(scene, hazards="HAZARDS.yaml"), tmp_path / "out", ON)
    rows = _by_id(result)
    assert result.hazards_configured is True
    assert rows["PA"]["hazard"]["rule_id"] == "R2" and rows["PA"]["hazard"]["min_depth"] == 0.5  # straddles x = 100
    assert rows["PA"]["hazard"]["max_depth"] == 0.8
    assert rows["PC"]["hazard"]["rule_id"] == "R1" and rows["PC"]["hazard"]["verdict"] == "conditional"
    assert rows["PF"]["hazard"]["rule_id"] == "R2"  # the point (150, 50)
    assert rows["PH"]["hazard"]["verdict"] == "unknown"  # off the raster: not safe, not a band
    assert result.exit_code == 1  # §9's exit code does not change with hazards
    layer = gpd.read_file(tmp_path / "out" / "projects.gpkg", layer="projects")
    assert dict(zip(layer["project_id"], layer["hazard"]))["PA"] == "slr ≥ 0.5 m (conflict)"
