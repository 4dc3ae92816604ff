"""Reports (HTML, XLSX, PDF) of a check and of a province batch.

Figures are checked against the hand values of tests/geoms.py, not against the reports' own
arithmetic: the scene has 5,800 m² (0.58 ha) and 90 m of conflict, 3,600 m² (0.36 ha) and 90 m of
conditional findings, and one unreviewed pair SKK/ODT of 800 m² (0.08 ha) that concerns the plan
feature CCN-1, 40 × 40 m (0.16 ha): the reports give the feature's figures unless the check was run
with --exact-unreviewed.

Units: current communes A [0,80] / B [70,200] (overlap to A) as in geoms.units_frame(); previous
communes (before the 2025 merger) split the square south X [0,100] / north Y [100,200] in y:
    A: KDC-01 on LUC x 50..80 = 30×50 = 1,500 m² conflict; DT963 on LUC x 10..80 = 70 m conditional
    B: KDC-01 on LUC x 80..100 = 1,000 m², on RPH 2,500 m², CCN-1 on RPH 800 m² -> 4,300 m² conflict;
       DT963 on RPH 90 m conflict; DT963 on LUC x 80..100 = 20 m and CHO-1 3,600 m² conditional
    X (south): all conflict rows 5,800 m² + 90 m; DT963 on LUC 90 m conditional
    Y (north): CHO-1 3,600 m² conditional
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import re
import unicodedata
from pathlib import Path

import geopandas as gpd
import openpyxl
import pytest

from kgspatial.batch import BatchResult, PlanRecord
from kgspatial.check import AdminInput, CheckOptions, PlanInput, run_check
from kgspatial.cli import main
from kgspatial.reports import fonts, write_check_reports, write_plan_reports, write_province_reports
from tests import geoms
from tests.conftest import require_system

pypdf = pytest.importorskip("pypdf")


def _weasyprint_ready() -> None:
    """PDF tests need WeasyPrint's system libraries (Pango, HarfBuzz, fontconfig)."""
    try:
        import weasyprint  # noqa: F401
    except OSError:
        require_system(
            "Pango/HarfBuzz for WeasyPrint", "apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b"
        )


HA = 10_000.0
CONFLICT_HA, CONDITIONAL_HA, UNREVIEWED_HA, UNREVIEWED_FEATURE_HA = 0.58, 0.36, 0.08, 0.16
CONFLICT_M, CONDITIONAL_M = 90.0, 90.0
NEW_UNITS = {  # code: (name, conflict ha, conflict m, conditional ha, conditional m)
    "A": ("Phường Vĩnh Thanh", 0.15, 0.0, 0.0, 70.0),
    "B": ("Xã Phi Thông", 0.43, 90.0, 0.36, 20.0),
}
OLD_UNITS = {
    "X": ("Xã Vĩnh Hòa Hiệp (huyện Châu Thành)", 0.58, 90.0, 0.0, 90.0),
    "Y": ("Phường Vĩnh Lạc (TP Rạch Giá)", 0.0, 0.0, 0.36, 0.0),
}


def old_units_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"ma_xa": ["X", "Y"], "ten_xa": [OLD_UNITS["X"][0], OLD_UNITS["Y"][0]]},
        geometry=[geoms.box(0, 0, 200, 100), geoms.box(0, 100, 200, 200)],
        crs=geoms.CRS,
    )


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("scene")
    geoms.master_frame().to_file(d / "master.gpkg")
    geoms.plan_frame().to_file(d / "plan.gpkg")
    geoms.plan_frame().iloc[[3, 4]].to_file(d / "cho.gpkg")  # ODT on ODT + TMD conditional: no conflict
    geoms.units_frame().to_file(d / "xa.gpkg")
    old_units_frame().to_file(d / "xa_2024.gpkg")
    # R01 on the group LUA (rice land): same pieces as on LUC, and the group's name in the reports.
    (d / "rules.csv").write_text(geoms.RULES_CSV.replace("R01,ODT,LUC", "R01,ODT,LUA"), encoding="utf-8")
    return d


def _options(scene: Path, *plans: PlanInput) -> CheckOptions:
    return CheckOptions(
        master=str(scene / "master.gpkg"),
        plans=list(plans) or [PlanInput(str(scene / "plan.gpkg"), id_field="so_hieu")],
        rules=str(scene / "rules.csv"),
        admin=AdminInput(str(scene / "xa.gpkg"), "ma_xa", "ten_xa"),
        admin_previous=AdminInput(str(scene / "xa_2024.gpkg"), "ma_xa", "ten_xa"),
    )


@pytest.fixture(scope="module")
def result(scene):
    return run_check(_options(scene))


@pytest.fixture(scope="module")
def reports(result, tmp_path_factory) -> Path:
    _weasyprint_ready()
    out = tmp_path_factory.mktemp("reports")
    write_check_reports(result, out, ["html", "xlsx", "pdf"])
    return out


def _sheet(wb, name: str) -> tuple[list[str], list[dict]]:
    rows = list(wb[name].iter_rows(values_only=True))
    header = list(rows[0])
    return header, [dict(zip(header, r)) for r in rows[1:]]


def _pdf_text(path: Path) -> str:
    reader = pypdf.PdfReader(str(path))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return " ".join(unicodedata.normalize("NFC", text).split())


# ---------------------------------------------------------------- XLSX


def test_xlsx_conflict_rows_equal_the_conflict_rows(result, reports):
    wb = openpyxl.load_workbook(reports / "report.xlsx")
    header, rows = _sheet(wb, "Xung đột")
    for column in (
        "Mã xung đột",
        "Mã quy hoạch",
        "Quy tắc",
        "Kết luận",
        "Mức độ",
        "Mã đất quy hoạch",
        "Mã đất QH tỉnh",
        "Diện tích (ha)",
        "Chiều dài (m)",
        "Mã xã (mới)",
        "Tên xã (mới)",
        "Mã xã (cũ)",
        "Tên xã (cũ)",
        "Căn cứ pháp lý",
    ):
        assert column in header
    conflicts = result.conflicts.set_index("conflict_id")
    assert len(rows) == len(conflicts) == 8  # 6 pieces, KDC-01/LUC and DT963/LUC each cut in two at A|B
    assert {r["Mã xung đột"] for r in rows} == set(conflicts.index)
    for r in rows:
        c = conflicts.loc[r["Mã xung đột"]]
        assert r["Quy tắc"] == c["rule_id"] and r["Mã đất QH tỉnh"] == c["master_code"]
        assert r["Diện tích (ha)"] * HA == pytest.approx(c["area_m2"])
        assert r["Chiều dài (m)"] == pytest.approx(c["length_m"])
        assert (r["Mã xã (mới)"], r["Mã xã (cũ)"]) == (c["admin_code"], c["admin_prev_code"])
        assert r["Kết luận"] == {"conflict": "Xung đột", "conditional": "Có điều kiện"}[c["verdict"]]
        assert isinstance(r["Diện tích (ha)"], (int, float)) and isinstance(r["Chiều dài (m)"], (int, float))
    # Areas add up: to the summary totals and to the hand values.
    conflict_ha = sum(r["Diện tích (ha)"] for r in rows if r["Kết luận"] == "Xung đột")
    conditional_ha = sum(r["Diện tích (ha)"] for r in rows if r["Kết luận"] == "Có điều kiện")
    totals = result.summary["totals"]
    assert conflict_ha == pytest.approx(totals["conflict_area_m2"] / HA) == pytest.approx(CONFLICT_HA)
    assert conditional_ha == pytest.approx(totals["conditional_area_m2"] / HA) == pytest.approx(CONDITIONAL_HA)
    assert sum(r["Chiều dài (m)"] for r in rows if r["Kết luận"] == "Xung đột") == pytest.approx(CONFLICT_M)
    # Spreadsheet conveniences: frozen header, autofilter over the table, number formats.
    ws = wb["Xung đột"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}{len(rows) + 1}"
    area_col = header.index("Diện tích (ha)") + 1
    # Two decimals from 1 ha up, four below (kgspatial.numfmt); the cell keeps the full value.
    assert ws.cell(row=2, column=area_col).number_format == "[>=1]#,##0.00;[=0]0.00;0.0000"
    assert ws.column_dimensions["A"].width >= 16


def test_xlsx_plans_communes_unreviewed_and_method(reports):
    wb = openpyxl.load_workbook(reports / "report.xlsx")
    assert wb.sheetnames[:2] == ["Quy hoạch", "Xung đột"]
    _, plans = _sheet(wb, "Quy hoạch")
    assert len(plans) == 1
    assert plans[0]["Kết luận"] == "Cần điều chỉnh"
    assert plans[0]["Diện tích xung đột (ha)"] == pytest.approx(CONFLICT_HA)
    assert plans[0]["Số mảnh xung đột"] == 5  # KDC-01: LUC in A, LUC in B, RPH; DT963 on RPH; CCN-1 on RPH
    assert plans[0]["Diện tích có điều kiện (ha)"] == pytest.approx(CONDITIONAL_HA)
    # the road DT963 on LUC is conditional: its 90 m belong in the plans table too (a review found them missing)
    assert plans[0]["Chiều dài có điều kiện (m)"] == pytest.approx(CONDITIONAL_M)
    assert plans[0]["Số điểm có điều kiện"] == 0 and plans[0]["Số điểm xung đột"] == 0
    for sheet, expected, code, name in (
        ("Theo xã", NEW_UNITS, "Mã xã (mới)", "Tên xã (mới)"),
        ("Theo xã cũ", OLD_UNITS, "Mã xã (cũ)", "Tên xã (cũ)"),
    ):
        _, units = _sheet(wb, sheet)
        got = {
            u[code]: (
                u[name],
                u["Diện tích xung đột (ha)"],
                u["Chiều dài xung đột (m)"],
                u["Diện tích có điều kiện (ha)"],
                u["Chiều dài có điều kiện (m)"],
            )
            for u in units
        }
        assert got.keys() == expected.keys()
        for key, values in expected.items():
            assert got[key][0] == values[0]
            assert got[key][1:] == pytest.approx(values[1:])
    _, unreviewed = _sheet(wb, "Chưa xét")
    assert [(u["Mã đất quy hoạch"], u["Mã đất QH tỉnh"]) for u in unreviewed] == [("SKK", "ODT")]
    assert unreviewed[0]["Diện tích các đối tượng liên quan (ha)"] == pytest.approx(UNREVIEWED_FEATURE_HA)
    assert unreviewed[0]["Số đối tượng"] == 1 and "Diện tích (ha)" not in unreviewed[0]
    method = [r for r in wb["Phương pháp"].iter_rows(values_only=True)]
    flat = " ".join(str(v) for row in method for v in row if v is not None)
    assert "EPSG:9207" in flat and "VN-2000 to WGS 84 (2)" in flat and "kgspatial" in flat
    assert "R01" in flat and "R05" in flat  # the whole rules table, compatible rules included
    items = {row[0]: row[1] for row in method if row and row[0]}
    assert items["Số quy tắc"] == 5 and items["Diện tích mảnh tối thiểu (m²)"] == 1.0  # numbers, not text
    assert "none (same CRS)" not in flat and "không cần (cùng hệ tọa độ)" in flat
    for sheet in ("Theo quy tắc", "Chưa xét"):
        header, _ = _sheet(wb, sheet)
        assert len(header) == len(set(header))  # filters and pivot tables need distinct headers


def test_reports_of_exact_unreviewed_areas(scene, tmp_path):
    """With --exact-unreviewed the overlap's own 800 m² (0.08 ha) is shown beside the feature's 0.16 ha."""
    exact = run_check(dataclasses.replace(_options(scene), exact_unreviewed=True))
    write_check_reports(exact, tmp_path, ["xlsx", "html"])
    _, unreviewed = _sheet(openpyxl.load_workbook(tmp_path / "report.xlsx"), "Chưa xét")
    assert unreviewed[0]["Diện tích (ha)"] == pytest.approx(UNREVIEWED_HA)
    assert unreviewed[0]["Diện tích các đối tượng liên quan (ha)"] == pytest.approx(UNREVIEWED_FEATURE_HA)
    assert "--exact-unreviewed" in (tmp_path / "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- HTML


def test_html_is_self_contained_and_vietnamese(reports):
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert html == unicodedata.normalize("NFC", html)
    assert not re.search(r"https?://", html)  # nothing fetched: opens from a USB stick
    assert not re.search(r"<(link|script)\b", html)
    for heading in (
        "Tổng hợp theo mức độ",
        "Tổng hợp theo quy tắc",
        "Tổng hợp theo xã, phường (đơn vị hành chính mới)",
        "Tổng hợp theo xã, phường cũ (trước sắp xếp 2025)",
        "Bản đồ tổng quan",
        "Cặp mã chưa có quy tắc (chưa xét)",
        "Phương pháp",
        "Cần điều chỉnh",
    ):
        assert heading in html
    assert "VN-2000 to WGS 84 (2)" in html and "EPSG:9207" in html
    assert "Đất trồng lúa" in html  # the taxonomy name of rule R01's group LUA
    assert "0,5800" in html and "0,3600" in html  # totals in ha, Vietnamese number format
    plans_table = html[html.index("Danh sách quy hoạch") : html.index("</table>", html.index("Danh sách quy hoạch"))]
    assert "Chiều dài có điều kiện" in plans_table and ">90,0<" in plans_table  # the conditional road's metres
    # The overview map is an embedded PNG that is not blank.
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert uris
    from matplotlib import image

    pixels = image.imread(io.BytesIO(base64.b64decode(uris[0])), format="png")
    colours = {tuple(p) for p in (pixels.reshape(-1, pixels.shape[-1]) * 255).round().astype(int)[::7]}
    assert len(colours) > 10


def test_header_names_the_province_not_the_profile_id(reports):
    """The profile id "kien-giang" is a folder name; the header shows the profile's title."""
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert "Tỉnh: <b>Kiên Giang (nay thuộc tỉnh An Giang)</b>" in html
    assert "kien-giang" not in html.split("<h2>", 1)[0]
    text = _pdf_text(reports / "report.pdf")
    assert "Tỉnh: Kiên Giang" in text and "Tỉnh: kien-giang" not in text


def test_english_switches_headings_and_columns(result, tmp_path):
    write_check_reports(result, tmp_path, ["html", "xlsx"], english=True)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "By severity" in html and "Needs adjustment" in html and "Unreviewed code pairs" in html
    assert "Tổng hợp theo mức độ" not in html
    wb = openpyxl.load_workbook(tmp_path / "report.xlsx")
    assert wb.sheetnames[:3] == ["Plans", "Conflicts", "By commune"]
    header, rows = _sheet(wb, "Conflicts")
    assert header[:4] == ["Conflict id", "Plan id", "Plan feature", "Rule"]
    assert "Area (ha)" in header and "Commune (old)" in header
    assert sum(r["Area (ha)"] for r in rows) == pytest.approx(CONFLICT_HA + CONDITIONAL_HA)
    _, plans = _sheet(wb, "Plans")
    assert plans[0]["Status"] == "Needs adjustment"


# ---------------------------------------------------------------- PDF


def test_pdf_text_extracts_vietnamese_and_fonts_are_embedded(reports):
    path = reports / "report.pdf"
    text = _pdf_text(path)
    for phrase in (
        "Báo cáo kiểm tra sự phù hợp quy hoạch",
        "Cần điều chỉnh",
        "Đất trồng lúa",
        "Phường Vĩnh Thanh",
        "Xã Vĩnh Hòa Hiệp (huyện Châu Thành)",
        "Rừng phòng hộ ven biển",
        "Đường tỉnh ĐT.963",
        "VN-2000 to WGS 84 (2)",
    ):
        assert phrase in text, phrase
    reader = pypdf.PdfReader(str(path))
    fonts_seen = {}
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            fonts_seen[str(font["/BaseFont"])] = "/FontFile2" in descriptor["/FontDescriptor"].get_object()
    assert fonts_seen and all(fonts_seen.values()), fonts_seen  # every font embedded (TrueType)
    assert any("KG-Report-Sans" in name for name in fonts_seen)


def test_pdf_without_a_vietnamese_font_fails_clearly(result, tmp_path, monkeypatch):
    fonts.find_font.cache_clear()
    monkeypatch.setattr(fonts, "_candidates", lambda: [(tmp_path / "none.ttf", None)])
    try:
        with pytest.raises(fonts.FontError, match="fonts-dejavu-core"):
            write_check_reports(result, tmp_path / "out", ["html", "pdf"])
    finally:
        fonts.find_font.cache_clear()
    assert not (tmp_path / "out" / "report.html").exists()  # nothing half-written


def test_unknown_format_is_an_input_error(result, tmp_path):
    from kgspatial.errors import InputError

    with pytest.raises(InputError, match="docx"):
        write_check_reports(result, tmp_path, ["html", "docx"])


def test_cli_check_report_writes_all_three(scene, tmp_path):
    _weasyprint_ready()
    out = tmp_path / "out"
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
        "--plan-id-field",
        "so_hieu",
        "--report",
        "html,xlsx,pdf",
        "--out",
        str(out),
        "-q",
    ]
    assert main(argv) == 1
    assert {p.name for p in out.iterdir()} >= {"report.html", "report.xlsx", "report.pdf", "conflicts.gpkg"}
    assert "Cần điều chỉnh" in _pdf_text(out / "report.pdf")


# ---------------------------------------------------------------- province (batch) reports


@pytest.fixture(scope="module")
def batch(scene, tmp_path_factory) -> BatchResult:
    """A BatchResult as the batch runner makes it: two checked plans sharing one master, one failed."""
    main_plan = PlanInput(str(scene / "plan.gpkg"), plan_id="qhc-rach-gia", id_field="so_hieu")
    market = PlanInput(str(scene / "cho.gpkg"), plan_id="qhct-cho-vinh-thanh", id_field="so_hieu")
    whole = run_check(_options(scene, main_plan, market))
    summary = dict(whole.summary, failed=[{"plan_id": "qh-giao-thong", "reason": "không có tệp .prj (no CRS)"}])
    records = []
    for spec, kind, decision, approved in (
        (main_plan, "urban_general", "1234/QĐ-UBND", dt.date(2019, 5, 10)),
        (market, "urban_zoning", "56/QĐ-UBND", dt.date(2021, 3, 2)),
    ):
        one = run_check(_options(scene, spec))
        records.append(
            PlanRecord(
                id=spec.plan_id,
                name=f"Quy hoạch {spec.plan_id}",
                type=kind,
                path=spec.path,
                decision=decision,
                approved=approved,
                authority="UBND tỉnh Kiên Giang",
                status="checked",
                summary=one.summary,
                conflicts=one.conflicts,
            )
        )
    records.append(
        PlanRecord(
            id="qh-giao-thong",
            name="Quy hoạch mạng lưới giao thông tỉnh",
            type="sectoral_transport",
            path=str(scene / "gt.shp"),
            decision="789/QĐ-UBND",
            approved=dt.date(2022, 8, 1),
            authority="UBND tỉnh Kiên Giang",
            status="failed",
            reason="không có tệp .prj (no CRS)",
        )
    )
    out = tmp_path_factory.mktemp("batch")
    return BatchResult(
        province="kien-giang",
        registry_path=scene / "registry.yaml",
        out=out,
        plans=records,
        summary=summary,
        conflicts=whole.conflicts,
        master=whole.master,
        taxonomy=whole.taxonomy,
        rules=whole.rules,
        exit_code=1,
    )


def test_province_reports(batch, tmp_path):
    _weasyprint_ready()
    write_province_reports(batch, tmp_path, ["html", "xlsx", "pdf"])
    wb = openpyxl.load_workbook(tmp_path / "report.xlsx")
    _, plans = _sheet(wb, "Quy hoạch")
    by_id = {p["Mã quy hoạch"]: p for p in plans}
    assert set(by_id) == {"qhc-rach-gia", "qhct-cho-vinh-thanh", "qh-giao-thong"}
    qhc = by_id["qhc-rach-gia"]
    assert (qhc["Kết luận"], qhc["Số quyết định"], qhc["Cơ quan phê duyệt"]) == (
        "Cần điều chỉnh",
        "1234/QĐ-UBND",
        "UBND tỉnh Kiên Giang",
    )
    assert qhc["Ngày phê duyệt"].date() == dt.date(2019, 5, 10)  # a real date cell
    assert qhc["Diện tích xung đột (ha)"] == pytest.approx(CONFLICT_HA)
    assert qhc["Loại quy hoạch"] == "Quy hoạch chung đô thị"
    market = by_id["qhct-cho-vinh-thanh"]
    assert market["Kết luận"] == "Phù hợp" and market["Số mảnh xung đột"] == 0
    assert market["Diện tích có điều kiện (ha)"] == pytest.approx(0.36)  # CHO-1 again, its own plan
    failed = by_id["qh-giao-thong"]
    assert failed["Kết luận"] == "Lỗi, không kiểm tra được" and ".prj" in failed["Lý do lỗi"]
    assert failed["Số mảnh xung đột"] is None and failed["Diện tích xung đột (ha)"] is None  # not checked, not 0
    _, rows = _sheet(wb, "Xung đột")
    assert len(rows) == len(batch.conflicts)
    assert {r["Mã xung đột"] for r in rows} == set(batch.conflicts["conflict_id"])
    assert sum(r["Diện tích (ha)"] for r in rows) == pytest.approx(CONFLICT_HA + 2 * CONDITIONAL_HA)
    _, types = _sheet(wb, "Theo loại quy hoạch")
    assert {t["Loại quy hoạch"]: t["Cần điều chỉnh"] for t in types} == {
        "Quy hoạch chung đô thị": 1,
        "Quy hoạch phân khu đô thị": 0,
        "Quy hoạch ngành (giao thông)": 0,
    }

    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", html)
    adjust = html.split("Quy hoạch cần điều chỉnh", 1)[1].split("<h2>", 1)[0]
    assert "1234/QĐ-UBND" in adjust and "10/05/2019" in adjust and "qhc-rach-gia/report.html" in adjust
    assert "qhct-cho-vinh-thanh" not in adjust
    assert "Quy hoạch không kiểm tra được" in html and "không có tệp .prj (no CRS)" in html
    assert "Tổng hợp theo loại quy hoạch" in html
    text = _pdf_text(tmp_path / "report.pdf")
    assert "Báo cáo rà soát các quy hoạch của tỉnh" in text and "1234/QĐ-UBND" in text
    assert "Quy hoạch mạng lưới giao thông tỉnh" in text


def test_plan_reports_of_a_batch(batch, tmp_path):
    record = batch.plans[0]
    write_plan_reports(record, batch, tmp_path / record.id, ["html", "xlsx"])
    html = (tmp_path / record.id / "report.html").read_text(encoding="utf-8")
    assert "1234/QĐ-UBND" in html and "10/05/2019" in html and "UBND tỉnh Kiên Giang" in html
    wb = openpyxl.load_workbook(tmp_path / record.id / "report.xlsx")
    _, rows = _sheet(wb, "Xung đột")
    assert len(rows) == len(record.conflicts)
    assert sum(r["Diện tích (ha)"] for r in rows if r["Kết luận"] == "Xung đột") == pytest.approx(CONFLICT_HA)
    # A failed plan still gets a report saying why.
    failed = batch.plans[2]
    write_plan_reports(failed, batch, tmp_path / failed.id, ["html", "xlsx"])
    html = (tmp_path / failed.id / "report.html").read_text(encoding="utf-8")
    assert "Lỗi, không kiểm tra được" in html and "không có tệp .prj (no CRS)" in html
    _, rows = _sheet(openpyxl.load_workbook(tmp_path / failed.id / "report.xlsx"), "Xung đột")
    assert rows == []


def test_reports_of_a_check_without_findings(scene, tmp_path):
    """Only P3 (ODT on ODT, same code): no row at all; the reports still say so in every format."""
    _weasyprint_ready()
    geoms.plan_frame().iloc[[3]].to_file(scene / "odt_only.gpkg")
    clean = run_check(_options(scene, PlanInput(str(scene / "odt_only.gpkg"))))
    assert len(clean.conflicts) == 0 and clean.exit_code == 0
    write_check_reports(clean, tmp_path, "html,xlsx,pdf")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Không phát hiện xung đột." in html and "Phù hợp" in html
    wb = openpyxl.load_workbook(tmp_path / "report.xlsx")
    _, rows = _sheet(wb, "Xung đột")
    assert rows == []
    _, plans = _sheet(wb, "Quy hoạch")
    assert plans[0]["Kết luận"] == "Phù hợp" and plans[0]["Diện tích xung đột (ha)"] == 0
    assert "Phù hợp" in _pdf_text(tmp_path / "report.pdf")


def test_reports_from_stored_results_with_masked_rows(result, tmp_path):
    """The service renders reports from what it stored (conflict rows and summary only, no input
    layers) and masks defence/security rows (geometry and master label withheld): still rendered."""
    _weasyprint_ready()
    from kgspatial.check import CheckResult

    rows = result.conflicts.copy()
    masked = rows["master_code"] == "RPH"  # stands in for CQP/CAN here
    rows.loc[masked, "geometry"] = None
    rows.loc[masked, "master_label"] = None
    rows.loc[masked, "master_feature"] = None
    stored = CheckResult(conflicts=rows, summary=result.summary)
    write_check_reports(stored, tmp_path, ["html", "xlsx", "pdf"])
    _, sheet = _sheet(openpyxl.load_workbook(tmp_path / "report.xlsx"), "Xung đột")
    assert len(sheet) == len(rows)
    assert {r["Tên vùng QH tỉnh"] for r in sheet if r["Mã đất QH tỉnh"] == "RPH"} == {None}
    assert sum(r["Diện tích (ha)"] for r in sheet) == pytest.approx(CONFLICT_HA + CONDITIONAL_HA)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Rừng phòng hộ ven biển" not in html and "data:image/png;base64," in html
    assert "R02" in html  # rules from the summary when the table itself is not at hand


def test_conflict_sheet_splits_beyond_a_worksheet(result, tmp_path, monkeypatch):
    from kgspatial.reports import xlsx

    monkeypatch.setattr(xlsx, "MAX_SHEET_ROWS", 3)  # 8 rows -> sheets of 3, 3, 2
    write_check_reports(result, tmp_path, ["xlsx"])
    wb = openpyxl.load_workbook(tmp_path / "report.xlsx")
    parts = [n for n in wb.sheetnames if n.startswith("Xung đột")]
    assert parts == ["Xung đột (1)", "Xung đột (2)", "Xung đột (3)"]
    ids = [r["Mã xung đột"] for name in parts for r in _sheet(wb, name)[1]]
    assert sorted(ids) == sorted(result.conflicts["conflict_id"])


def test_xlsx_text_is_never_a_formula(scene, tmp_path):
    """A label such as "=HYPERLINK(...)" from a plan's attribute table stays text in the XLSX."""
    plan = geoms.plan_frame()
    plan.loc[0, "ten"] = '=HYPERLINK("http://example.invalid","x")'
    plan.to_file(scene / "formula.gpkg")
    res = run_check(_options(scene, PlanInput(str(scene / "formula.gpkg"), label_field="ten")))
    write_check_reports(res, tmp_path, ["xlsx"])
    ws = openpyxl.load_workbook(tmp_path / "report.xlsx")["Xung đột"]
    header = [c.value for c in ws[1]]
    col = header.index("Tên vùng quy hoạch")
    cells = [row[col] for row in ws.iter_rows(min_row=2) if str(row[col].value).startswith("=")]
    assert cells and all(c.data_type == "s" for c in cells)
