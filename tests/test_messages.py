"""Messages and numbers as planners read them (issue 16): Vietnamese first, then the same in
English; Vietnamese number format in Vietnamese text (3.051,50 ha), English in English
(3,051.50 ha); hectares to two decimals from 1 ha up, four below.

Figures are worked out by hand from tests/geoms.py (its docstring gives the geometry)."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from kgspatial import numfmt
from kgspatial.cli import main
from kgspatial.errors import InputError, KgSpatialError
from kgspatial.io import read_layer
from tests import geoms

VI_LETTER = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I)


def vietnamese_first(message: str) -> bool:
    """'[where: ]<Vietnamese> / <English>': a Vietnamese letter before the first ' / ', and after
    it English words (a path's own Vietnamese letters are not counted)."""
    message = message.removeprefix("kgspatial: error: ").strip()
    head, sep, tail = message.partition(" / ")
    head = re.sub(r"^\S*[/\\.]\S*: ", "", head)  # a file name or path prefix
    return bool(sep) and bool(VI_LETTER.search(head)) and len(re.findall(r"\b[a-z]{2,}\b", tail)) >= 2


# --- the formatter --------------------------------------------------------------------------


def test_numbers_vietnamese_and_english():
    assert numfmt.number(3051.5, 2) == "3.051,50"
    assert numfmt.number(3051.5, 2, english=True) == "3,051.50"
    assert numfmt.number(1_234_567.891, 2) == "1.234.567,89"
    assert numfmt.vn(3_565_256) == "3.565.256" and numfmt.en(3_565_256) == "3,565,256"
    assert numfmt.number(-0.001, 2) == "0,00"  # no "-0,00"
    assert numfmt.number(float("nan")) == "" and numfmt.number(None) == ""


def test_hectares_two_decimals_from_one_hectare_four_below():
    assert numfmt.hectares(30_515_010) == "3.051,50 ha"  # 30 515 010 m² / 10 000
    assert numfmt.hectares(30_515_010, english=True) == "3,051.50 ha"
    assert numfmt.hectares(10_000) == "1,00 ha"
    assert numfmt.hectares(9_999) == "0,9999 ha"
    assert numfmt.hectares(2_500) == "0,2500 ha"
    assert numfmt.hectares(25) == "0,0025 ha"  # a 5 × 5 m piece is not "0,00 ha"
    assert numfmt.hectares(0) == "0,00 ha"
    assert numfmt.hectares(45_180_000, unit=False) == "4.518,00"


def test_xlsx_hectare_format_follows_the_same_rule():
    assert numfmt.XLSX_HECTARES == "[>=1]#,##0.00;[=0]0.00;0.0000"


# --- CLI lines and warnings -----------------------------------------------------------------


@pytest.fixture()
def scene(tmp_path):
    geoms.master_frame().to_file(tmp_path / "master.gpkg")
    geoms.plan_frame().to_file(tmp_path / "plan.gpkg")
    geoms.units_frame().to_file(tmp_path / "xa.gpkg")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    return tmp_path


def _check(scene, *extra, plan="plan.gpkg") -> list[str]:
    return [
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


def _run(argv, capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_cli_totals_in_vietnamese_then_english(scene, capsys):
    code, err = _run(_check(scene, "--admin", str(scene / "xa.gpkg")), capsys)
    assert code == 1
    line = err.strip().splitlines()[-1]
    # Conflicts: P0 ODT on LUC 2 500 m² + on RPH 2 500 m², P5 SKK on RPH 800 m² = 5 800 m² = 0,58 ha;
    # P1 DGT crosses RPH for 90 m.  Split by the units A|B at x = 70..80: P0 -> 3 pieces on LUC+RPH.
    vi, _, en = line.partition(" / ")
    assert "0,5800 ha" in vi and "90 m" in vi and "mảnh xung đột" in vi and "có điều kiện" in vi
    assert "0.5800 ha" in en and "conflict piece(s)" in en and "conditional" in en
    assert line.index("0,5800 ha") < line.index("0.5800 ha")
    summary = json.loads((scene / "out" / "summary.json").read_text(encoding="utf-8"))
    # Units A [0,80]×[0,200] and B [70,200]×[0,200] overlap in 10 × 200 m = 2 000 m².
    overlap = [w for w in summary["warnings"] if "chồng lấn" in w]
    assert len(overlap) == 1 and "2.000 m²" in overlap[0] and "2,000 m²" in overlap[0]
    assert vietnamese_first(overlap[0])


def test_cli_totals_with_thousands(tmp_path, capsys):
    """A plan of 1 200 × 1 000 m of ODT on LUC: 120 ha -> '120,00 ha', English '120.00 ha'."""
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame(
        {"MA_QH": ["LUC"]}, geometry=[shapely.box(560_000, 1_100_000, 563_000, 1_102_000)], crs="EPSG:9207"
    ).to_file(tmp_path / "master.gpkg")
    gpd.GeoDataFrame(
        {"ma": ["ODT"]}, geometry=[shapely.box(560_000, 1_100_000, 561_200, 1_101_000)], crs="EPSG:9207"
    ).to_file(tmp_path / "plan.gpkg")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    code, err = _run(_check(tmp_path), capsys)
    assert code == 1
    assert "1 mảnh xung đột: 120,00 ha" in err and "1 conflict piece(s): 120.00 ha" in err


# --- errors: Vietnamese first ---------------------------------------------------------------


def _zip_without_shapefile(tmp_path):
    path = tmp_path / "tai_lieu.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "không có bản đồ")
    return path


def _shapefile(tmp_path, drop=()):
    geoms.plan_frame().iloc[[0, 3]].to_file(tmp_path / "qh.shp")
    for ext in drop:
        (tmp_path / f"qh{ext}").unlink()
    return tmp_path / "qh.shp"


def _two_layers(tmp_path):
    path = tmp_path / "hai_lop.gpkg"
    geoms.plan_frame().to_file(path, layer="a")
    geoms.plan_frame().to_file(path, layer="b")
    return path


READ_CASES = {
    "no such file": (lambda t: t / "khong_co.gpkg", {}, "không có tệp này"),
    "a folder": (lambda t: t, {}, "thư mục"),
    "unsupported type": (lambda t: (t / "a.txt").write_text("x") and t / "a.txt", {}, "không được hỗ trợ"),
    "zip without shapefile": (_zip_without_shapefile, {}, "không chứa shapefile"),
    "shapefile without .shx": (lambda t: _shapefile(t, drop=(".shx",)), {}, "thiếu tệp .shx"),
    "no CRS": (lambda t: _shapefile(t, drop=(".prj",)), {}, "không có hệ tọa độ (thiếu tệp .prj)"),
    "unknown encoding": (lambda t: _shapefile(t), {"encoding": "klingon"}, "không biết bảng mã"),
    "two layers": (_two_layers, {}, "hãy chọn một lớp"),
    "bad assume_crs": (lambda t: _shapefile(t, drop=(".prj",)), {"assume_crs": "UTM48N"}, "không nhận ra hệ tọa độ"),
}


@pytest.mark.parametrize("case", READ_CASES)
def test_reader_errors_are_vietnamese_first(case, tmp_path):
    make, kwargs, vietnamese = READ_CASES[case]
    with pytest.raises(KgSpatialError) as exc:
        read_layer(make(tmp_path), **kwargs)
    message = str(exc.value)
    assert vietnamese in message.partition(" / ")[0], message
    assert vietnamese_first(message), message


CLI_CASES = {
    "bad report format": (["--report", "docx"], "không có định dạng docx"),
    "bad master checks": (["--master-checks", "sometimes"], "phải là auto, always hoặc never"),
    "negative min area": (["--min-area", "-1"], "--min-area phải là số m²"),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_option_errors_are_vietnamese_first(case, scene, capsys):
    extra, vietnamese = CLI_CASES[case]
    code, err = _run(_check(scene, *extra), capsys)
    assert code == 2 and vietnamese in err and vietnamese_first(err), err
    assert not (scene / "out").exists()


def test_serve_and_keys_errors_are_vietnamese_first(tmp_path, capsys):
    code, err = _run(["serve", "--port", "70000"], capsys)
    assert code == 2 and "cổng là số từ 1 đến 65535" in err and vietnamese_first(err), err
    code, err = _run(["keys", "create", "--role", "boss", "--name", "x", "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and "không có vai trò 'boss'" in err and vietnamese_first(err), err


def test_assume_crs_vn2000_on_metres_suggests_the_tm3_zone(scene, capsys):
    """'VN2000' names the geographic VN-2000 (EPSG:4756, degrees); TM-3 coordinates in metres
    under it are refused with the projected VN-2000 CRS the province uses."""
    _shapefile(scene, drop=(".prj",))
    code, err = _run(_check(scene, "--assume-crs", "VN2000", plan="qh.shp"), capsys)
    assert code == 2 and vietnamese_first(err), err
    # P0 is box [50,150]×[25,75] off (560 000, 1 100 000); shapely's ring starts at (maxx, miny).
    assert "tọa độ như x = 560.150, y = 1.100.025 không phải là độ" in err
    assert "coordinates such as x = 560,150, y = 1,100,025 are not degrees" in err
    assert err.index("không phải là độ") < err.index("are not degrees")
    assert "ví dụ EPSG:9207 (VN-2000 / TM-3 104-30, Kiên Giang)" in err and "e.g. EPSG:9207" in err
    code, _ = _run(_check(scene, "--assume-crs", "EPSG:9207", plan="qh.shp"), capsys)
    assert code == 1  # the suggestion works


def test_plan_outside_the_master_is_vietnamese_first(scene, capsys):
    import geopandas as gpd

    far = geoms.plan_frame().iloc[[0]].copy()
    far["geometry"] = far.translate(50_000, 0)
    gpd.GeoDataFrame(far).to_file(scene / "xa_xoi.gpkg")
    code, err = _run(_check(scene, plan="xa_xoi.gpkg"), capsys)
    assert code == 2 and "nằm hoàn toàn ngoài phạm vi quy hoạch tỉnh" in err and vietnamese_first(err), err


def test_bad_plan_type_lists_every_type_with_its_vietnamese_name(tmp_path):
    import yaml

    from kgspatial.registry import load_registry

    geoms.master_frame().to_file(tmp_path / "master.gpkg")
    geoms.plan_frame().to_file(tmp_path / "plan.gpkg")
    (tmp_path / "registry.yaml").write_text(
        yaml.safe_dump(
            {
                "province": "kien-giang",
                "master": {"path": "master.gpkg"},
                "plans": [{"id": "a", "name": "Quy hoạch A", "type": "lau_dai", "path": "plan.gpkg"}],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    with pytest.raises(KgSpatialError) as exc:
        load_registry(tmp_path / "registry.yaml")
    message = str(exc.value)
    for text in (
        "'lau_dai' không phải là loại quy hoạch",
        "urban_general (Quy hoạch chung đô thị)",
        "urban_zoning (Quy hoạch phân khu đô thị)",
        "rural (Quy hoạch chung xã (nông thôn))",
        "sectoral_<ngành> (Quy hoạch ngành: transport = giao thông",
        "irrigation = thủy lợi",
        "technical_<loại> (Quy hoạch hạ tầng kỹ thuật",
        "is not a plan type; use urban_general",
    ):
        assert text in message, (text, message)
    assert message.index("không phải là loại quy hoạch") < message.index("is not a plan type")


def test_say_keeps_both_halves():
    exc = InputError.say("tệp hỏng", "broken file")
    assert str(exc) == "tệp hỏng / broken file" and (exc.vi, exc.en) == ("tệp hỏng", "broken file")


def test_rules_table_problems_are_vietnamese_first(tmp_path):
    from kgspatial.profile import load_profile
    from kgspatial.rules import RulesError, load_rules

    path = tmp_path / "quy_tac.csv"
    path.write_text(
        "rule_id,plan_code,master_code,verdict,severity\n"
        ",ODT,LUC,conflict,high\n"  # row 2: no id
        "R3,ODT,LUC,maybe,high\n",
        encoding="utf-8",
    )  # row 3: verdict, and the pair again
    with pytest.raises(RulesError) as exc:
        load_rules(path, load_profile("kien-giang").load_taxonomy())
    problems = exc.value.problems
    assert problems[0] == "dòng 2, rule_id: để trống / row 2, rule_id: empty"
    assert all(vietnamese_first(p) for p in problems), problems
    assert str(exc.value).startswith(f"{path}: 3 lỗi / 3 problem(s): dòng 2, rule_id: để trống")


@pytest.mark.parametrize(
    "english, note", [(False, "Hiển thị 300 trong 1.100 mảnh"), (True, "Showing 300 of 1,100 pieces")]
)
def test_report_counts_in_the_reports_language(tmp_path, capsys, english, note):
    """1 100 master zones of 10 × 10 m LUC under one ODT zone: 1 100 conflict pieces, 300 listed."""
    import geopandas as gpd
    import shapely

    cells = [
        shapely.box(560_000 + 10 * i, 1_100_000 + 10 * j, 560_010 + 10 * i, 1_100_010 + 10 * j)
        for i in range(44)
        for j in range(25)
    ]
    gpd.GeoDataFrame({"MA_QH": ["LUC"] * len(cells)}, geometry=cells, crs="EPSG:9207").to_file(tmp_path / "master.gpkg")
    gpd.GeoDataFrame(
        {"ma": ["ODT"]}, geometry=[shapely.box(560_000, 1_100_000, 560_440, 1_100_250)], crs="EPSG:9207"
    ).to_file(tmp_path / "plan.gpkg")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    code, _ = _run(_check(tmp_path, "--report", "html", *(["--english"] if english else [])), capsys)
    assert code == 1
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert note in page
    # The conflict-area card: 440 × 250 m = 110 000 m² = 11 ha, two decimals.
    assert f'<div class="v">{"11.00" if english else "11,00"}</div>' in page
