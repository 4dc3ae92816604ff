"""Files as users really send them, damaged or odd (found by black-box testing): each must give the
right figures or a clear exit 2, never a partial result passed off as complete."""

from __future__ import annotations

import json
import unicodedata
import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from kgspatial.check import CheckOptions, PlanInput, run_check
from kgspatial.cli import main
from tests import geoms
from tests.test_io import ESRI_PRJ

# Hand figures of the test rules on tests/geoms.py: P0 ODT 2,500 m² on LUC (R01) and 2,500 m² on
# RPH (R02), P5 SKK 800 m² on RPH (R02); P4 TMD 3,600 m² on ODT is conditional (R04).
CONFLICT_M2 = 2500 + 2500 + 800


@pytest.fixture()
def scene(tmp_path):
    geoms.master_frame().to_file(tmp_path / "master.gpkg")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    return tmp_path


def check(scene, *extra, plan="plan.gpkg", out="out"):
    argv = [
        "check",
        "--master",
        str(scene / "master.gpkg"),
        "--plan",
        str(scene / plan),
        "--rules",
        str(scene / "rules.csv"),
        "--out",
        str(scene / out),
        "-q",
        *extra,
    ]
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def summary(scene, out="out") -> dict:
    return json.loads((scene / out / "summary.json").read_text(encoding="utf-8"))


def polygons():
    """The plan's polygons (a shapefile holds one geometry type): P0, P3, P4, P5."""
    return geoms.plan_frame().iloc[[0, 3, 4, 5]]


def write_shapefile(folder, name="qh", frame=None):
    frame = polygons() if frame is None else frame
    path = folder / f"{name}.shp"
    pyogrio.write_dataframe(frame, path, encoding="UTF-8")
    return path


def zip_shapefile(shp, zip_path, folder: str = ""):
    """The shapefile's parts zipped as `folder`qh.* (as a planner's upload would be)."""
    with zipfile.ZipFile(zip_path, "w") as zf:
        for part in sorted(shp.parent.glob(f"{shp.stem}.*")):
            zf.write(part, f"{folder}qh{part.suffix}")


def test_truncated_shp_is_refused_not_read_in_part(scene, capsys):
    """An interrupted copy: GDAL would give the lost shapes as empty geometries, and the check
    would report too little."""
    shp = write_shapefile(scene)
    data = shp.read_bytes()
    shp.write_bytes(data[: len(data) // 2])
    assert check(scene, plan="qh.shp") == 2
    err = capsys.readouterr().err
    assert len(data) // 2 < 1000  # so no thousands separator in the size below
    assert f"qh.shp: tệp .shp bị cắt cụt ({len(data) // 2} byte): 3 trong 4 hình" in err
    assert "of its 4 shapes lie beyond its end" in err
    assert not (scene / "out").exists()
    # The same file zipped.
    zip_shapefile(shp, scene / "qh.zip")
    assert check(scene, plan="qh.zip") == 2
    assert "the .shp is cut short" in capsys.readouterr().err


def test_dbf_from_another_export_is_refused(scene, capsys):
    shp = write_shapefile(scene)
    other = write_shapefile(scene, "other", polygons().iloc[:3])
    shp.with_suffix(".dbf").write_bytes(other.with_suffix(".dbf").read_bytes())
    assert check(scene, plan="qh.shp") == 2
    assert "parts disagree: 4 shapes in the .shp/.shx but 3 records in the .dbf" in capsys.readouterr().err


def test_sound_shapefile_gives_the_hand_figures(scene):
    write_shapefile(scene)
    assert check(scene, plan="qh.shp") == 1
    assert summary(scene)["totals"]["conflict_area_m2"] == pytest.approx(CONFLICT_M2)


def test_empty_plan_or_all_null_geometries_is_no_all_clear(scene, capsys):
    frame = geoms.plan_frame()
    frame.iloc[:0].to_file(scene / "empty.gpkg")
    assert check(scene, plan="empty.gpkg") == 2
    assert "the plan has no feature with a geometry (0 read)" in capsys.readouterr().err
    nulls = frame.copy()
    nulls["geometry"] = None
    nulls.to_file(scene / "nulls.gpkg")
    assert check(scene, plan="nulls.gpkg") == 2
    assert "(6 read, all empty, missing or rings with no area)" in capsys.readouterr().err
    # Some null geometries: checked, and the summary says what was left out.
    nulls = frame.copy()
    nulls.loc[[2], "geometry"] = None
    nulls.to_file(scene / "some.gpkg")
    assert check(scene, plan="some.gpkg") == 1
    assert any("1 feature(s) without geometry" in w for w in summary(scene)["warnings"])


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_min_area_must_be_finite(scene, capsys, value):
    geoms.plan_frame().to_file(scene / "plan.gpkg")
    assert check(scene, "--min-area", value) == 2
    assert "--min-area must be a number" in capsys.readouterr().err
    assert not (scene / "out").exists()


def test_out_naming_a_file_is_refused_before_any_work(scene, capsys):
    geoms.plan_frame().to_file(scene / "plan.gpkg")
    (scene / "out").write_text("notes")
    assert check(scene) == 2
    err = capsys.readouterr().err
    assert "exists and is not a folder" in err and err.count("\n") == 1
    assert (scene / "out").read_text() == "notes"


def test_outputs_of_an_earlier_run_do_not_stay(scene):
    """A map or GeoJSON of the previous plan beside new conflicts would mislead; the user's own
    files stay."""
    geoms.plan_frame().to_file(scene / "plan.gpkg")
    assert check(scene, "--geojson") == 1
    (scene / "out" / "ghi_chu.txt").write_text("mine")
    geoms.plan_frame().iloc[[3]].to_file(scene / "compatible.gpkg")  # P3 ODT on ODT: nothing
    assert check(scene, plan="compatible.gpkg") == 0
    assert sorted(p.name for p in (scene / "out").iterdir()) == ["conflicts.gpkg", "ghi_chu.txt", "summary.json"]


def test_plan_id_from_an_nfd_file_name_is_nfc(scene):
    name = unicodedata.normalize("NFD", "Quy hoạch xã Hòa Hưng")
    geoms.plan_frame().to_file(scene / f"{name}.gpkg")
    assert check(scene, plan=f"{name}.gpkg") == 1
    plan_id = summary(scene)["by_plan"][0]["plan_id"]
    assert plan_id == unicodedata.normalize("NFC", name) != name
    assert set(gpd.read_file(scene / "out" / "conflicts.gpkg")["plan_id"]) == {plan_id}


def test_two_layers_of_one_geopackage_checked_together(scene):
    frame = geoms.plan_frame()
    frame.iloc[[0]].to_file(scene / "nang_luong.gpkg", layer="khu")
    frame.iloc[[5]].to_file(scene / "nang_luong.gpkg", layer="tram")
    result = run_check(
        CheckOptions(
            master=str(scene / "master.gpkg"),
            rules=str(scene / "rules.csv"),
            plans=[PlanInput(f"{scene}/nang_luong.gpkg::khu"), PlanInput(f"{scene}/nang_luong.gpkg::tram")],
        )
    )
    by_plan = result.conflicts.groupby("plan_id")["area_m2"].sum().to_dict()
    assert by_plan == pytest.approx({"nang_luong::khu": 5000.0, "nang_luong::tram": 800.0})


def test_encoding_option_is_the_plans_not_the_masters(scene):
    """--encoding tcvn3 for a TCVN3 plan must not re-read the master's UTF-8 labels."""
    master = geoms.master_frame().assign(TEN=["Đất chuyên trồng lúa", "Đất rừng phòng hộ", "Đất ở đô thị"])
    pyogrio.write_dataframe(master, scene / "qh_tinh.shp", encoding="UTF-8")
    plan = polygons().copy()
    plan["ten"] = [t.encode("tcvn3").decode("latin-1") for t in ["Khu đô thị"] * len(plan)]
    pyogrio.write_dataframe(plan, scene / "qh.shp", encoding="ISO-8859-1")
    (scene / "qh.cpg").unlink(missing_ok=True)
    code = main(
        [
            "check",
            "--master",
            str(scene / "qh_tinh.shp"),
            "--master-label-field",
            "TEN",
            "--plan",
            str(scene / "qh.shp"),
            "--plan-label-field",
            "ten",
            "--encoding",
            "tcvn3",
            "--rules",
            str(scene / "rules.csv"),
            "--out",
            str(scene / "out"),
            "-q",
        ]
    )
    assert code == 1
    conflicts = gpd.read_file(scene / "out" / "conflicts.gpkg")
    assert set(conflicts["master_label"]) <= {"Đất chuyên trồng lúa", "Đất rừng phòng hộ", "Đất ở đô thị"}
    assert set(conflicts["plan_label"]) == {"Khu đô thị"}
    inputs = summary(scene)["inputs"]
    assert inputs["master"]["encoding"] == "utf-8" and inputs["plans"][0]["encoding"] == "tcvn3"


def _tcvn3_shapefile(folder, cpg: str):
    plan = polygons().copy()
    plan["ten"] = [t.encode("tcvn3").decode("latin-1") for t in ["Đất ở tại đô thị"] * len(plan)]
    path = folder / "qh.shp"
    pyogrio.write_dataframe(plan, path, encoding="ISO-8859-1")
    path.with_suffix(".cpg").write_text(cpg)
    path.with_suffix(".prj").write_text(ESRI_PRJ)
    return path


def test_cpg_of_1252_over_tcvn3_text_is_read_as_tcvn3_with_a_warning(scene):
    """ArcGIS writes the PC's code page into the .cpg while the text was typed in a TCVN3 font."""
    _tcvn3_shapefile(scene, "1252")
    assert check(scene, "--plan-label-field", "ten", plan="qh.shp") == 1
    s = summary(scene)
    assert s["inputs"]["plans"][0]["encoding"] == "tcvn3"
    assert any("the .cpg says cp1252 but the text is tcvn3" in w for w in s["warnings"])
    assert set(gpd.read_file(scene / "out" / "conflicts.gpkg")["plan_label"]) == {"Đất ở tại đô thị"}


def test_cpg_contradicted_by_the_text_names_file_source_and_likely_encoding(scene, capsys):
    _tcvn3_shapefile(scene, "UTF-8")
    assert check(scene, plan="qh.shp") == 2
    err = capsys.readouterr().err
    assert "qh.shp: văn bản không đọc được theo bảng mã utf-8, theo tệp .cpg" in err
    assert "hãy dùng tùy chọn --encoding tcvn3" in err  # Vietnamese first, then the same in English
    assert "text cannot be decoded as utf-8, from its .cpg" in err
    assert "give --encoding tcvn3" in err and err.count("\n") == 1
    assert check(scene, "--encoding", "tcvn3", plan="qh.shp") == 1  # the way out it names works


@pytest.mark.filterwarnings("ignore:Non closed ring")  # pytest resets the filter kgspatial.io sets
def test_unclosed_ring_is_closed_and_counted(scene):
    """GeoJSON writers leave rings open; GDAL reads them with a warning, which goes to the summary."""
    x0, y0 = geoms.X0, geoms.Y0
    ring = [[x0 + 120, y0 + 120], [x0 + 180, y0 + 120], [x0 + 180, y0 + 180], [x0 + 120, y0 + 180]]  # not closed
    feature = {"type": "Feature", "properties": {"ma": "TMD"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::9207"}},
        "features": [feature],
    }
    (scene / "hở.geojson").write_text(json.dumps(doc), encoding="utf-8")
    assert check(scene, plan="hở.geojson") == 0  # TMD on ODT: conditional only
    s = summary(scene)
    assert s["totals"]["conditional_area_m2"] == pytest.approx(60 * 60)
    assert any("1 feature(s) with a ring left open: closed" in w for w in s["warnings"])
    # Batch runs and the service read on worker threads: the count must not depend on the thread.
    from concurrent.futures import ThreadPoolExecutor

    from kgspatial.io import read_layer

    with ThreadPoolExecutor(1) as pool:
        layer = pool.submit(read_layer, scene / "hở.geojson").result()
    assert any("ring left open" in w for w in layer.warnings)


def test_fiona_engine_reads_geojson(scene):
    frame = geoms.plan_frame().assign(ghi_chu="x")
    frame.to_file(scene / "plan.geojson", driver="GeoJSON")
    assert check(scene, "--engine", "fiona", plan="plan.geojson") == 1
    assert summary(scene)["totals"]["conflict_area_m2"] == pytest.approx(CONFLICT_M2)


def test_admin_codes_from_a_real_field_are_integers(scene):
    units = geoms.units_frame()
    units["ma_xa"] = [8130103.0, 8130105.0]
    units.to_file(scene / "xa.gpkg")
    geoms.plan_frame().to_file(scene / "plan.gpkg")
    assert check(scene, "--admin", str(scene / "xa.gpkg"), "--admin-field", "ma_xa") == 1
    codes = set(gpd.read_file(scene / "out" / "conflicts.gpkg")["admin_code"])
    assert codes <= {"8130103", "8130105"} and codes


def test_rules_saved_by_excel_with_semicolons(scene):
    rows = [r.split(",") for r in geoms.RULES_CSV.strip().splitlines()]
    rows[1][5] = "Luật Đất đai 2024; Điều 121"  # a cell holding the separator: Excel quotes it
    pd.DataFrame(rows[1:], columns=rows[0]).to_csv(scene / "rules.csv", sep=";", index=False, encoding="utf-8-sig")
    geoms.plan_frame().to_file(scene / "plan.gpkg")
    assert check(scene) == 1
    assert summary(scene)["totals"]["conflict_area_m2"] == pytest.approx(CONFLICT_M2)


def test_version(capsys):
    from kgspatial import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"kgspatial {__version__}"


def test_name_typed_composed_finds_a_decomposed_file(scene):
    """macOS and some unzip tools store Vietnamese names decomposed (NFD); users type NFC."""
    name = "Quy hoạch Hòa Hưng"
    geoms.plan_frame().to_file(scene / f"{unicodedata.normalize('NFD', name)}.gpkg")
    assert check(scene, plan=f"{unicodedata.normalize('NFC', name)}.gpkg") == 1
    assert summary(scene)["totals"]["conflict_area_m2"] == pytest.approx(CONFLICT_M2)


def test_zip_inside_a_zip_is_named(scene, capsys):
    shp = write_shapefile(scene)
    zip_shapefile(shp, scene / "inner.zip")
    with zipfile.ZipFile(scene / "outer.zip", "w") as zf:
        zf.write(scene / "inner.zip", "gui_so/inner.zip")
    assert check(scene, plan="outer.zip") == 2
    assert "holds another zip (gui_so/inner.zip)" in capsys.readouterr().err


def test_missing_or_shared_feature_ids_are_warned(scene):
    frame = geoms.plan_frame().assign(ma_lo=["A1", "A1", None, "B2", "C3", "C3"])
    frame.to_file(scene / "plan.gpkg")
    assert check(scene, "--plan-id-field", "ma_lo") == 1
    s = summary(scene)
    assert s["inputs"]["plans"][0]["ids_missing"] == 1 and s["inputs"]["plans"][0]["ids_repeated"] == 4
    assert any("empty for 1 feature(s) and shared by 4" in w for w in s["warnings"])


def test_unknown_codes_listed_as_the_layer_spells_them(scene):
    frame = geoms.plan_frame()
    frame.loc[4, "ma"] = " Nhà ở "
    frame.to_file(scene / "plan.gpkg")
    check(scene)
    assert summary(scene)["inputs"]["plans"][0]["unknown_codes"] == {"Nhà ở": 1}


def test_layer_without_fields_says_so(scene, capsys):
    doc = {"type": "FeatureCollection", "features": []}
    (scene / "rong.geojson").write_text(json.dumps(doc), encoding="utf-8")
    assert check(scene, plan="rong.geojson") == 2
    assert "is the layer empty?" in capsys.readouterr().err


def test_geometry_collection_is_checked_as_its_polygons_and_said(scene):
    """A CAD export's parcel with its outline and label point in one feature: the parcel is checked
    (TMD 60 × 60 m on ODT: 3,600 m² conditional by hand), the rest is named in the summary."""
    import shapely

    parcel = geoms.box(120, 120, 180, 180)
    # Nested as some writers do: the polygon one level down must not be lost.
    mixed = shapely.GeometryCollection([shapely.GeometryCollection([parcel]), parcel.exterior, parcel.centroid])
    gpd.GeoDataFrame({"ma": ["TMD"]}, geometry=[mixed], crs=geoms.CRS).to_file(scene / "cad.geojson", driver="GeoJSON")
    assert check(scene, plan="cad.geojson") == 0
    s = summary(scene)
    assert s["totals"]["conditional_area_m2"] == pytest.approx(3600.0)
    assert s["inputs"]["plans"][0]["collections_reduced"] == 1
    assert any("1 feature(s) mix polygons with lines or points" in w for w in s["warnings"])


@pytest.mark.parametrize("encoding", ["tcvn3", "utf-8"])
def test_field_names_decoded_like_the_values(scene, encoding):
    """A DBF's field names are bytes in the layer's encoding too: "MãQH" typed in a TCVN3 font
    reads "M·QH" as Latin-1.  The user names the field as they see it in their GIS."""
    plan = polygons()
    raw = lambda text: text.encode(encoding).decode("latin-1")  # noqa: E731
    frame = gpd.GeoDataFrame(
        {raw("MãQH"): plan["ma"].tolist(), raw("Tên"): [raw("Khu ở")] * len(plan)},
        geometry=plan.geometry.tolist(),
        crs=geoms.CRS,
    )
    pyogrio.write_dataframe(frame, scene / "qh.shp", encoding="ISO-8859-1")
    (scene / "qh.cpg").unlink(missing_ok=True)  # no .cpg: the encoding is detected
    assert check(scene, "--plan-field", "MãQH", "--plan-label-field", "Tên", plan="qh.shp") == 1
    s = summary(scene)
    assert s["inputs"]["plans"][0]["code_field"] == "MãQH" and s["inputs"]["plans"][0]["label_field"] == "Tên"
    assert s["totals"]["conflict_area_m2"] == pytest.approx(CONFLICT_M2)
    assert set(gpd.read_file(scene / "out" / "conflicts.gpkg")["plan_label"]) == {"Khu ở"}


def test_encoding_given_that_reads_the_text_wrongly_is_warned(scene):
    """The user's --encoding stands, but VNI given for TCVN3 text is a slip worth saying."""
    _tcvn3_shapefile(scene, "UTF-8").with_suffix(".cpg").unlink()
    assert check(scene, "--encoding", "vni", plan="qh.shp") == 1
    s = summary(scene)
    assert s["inputs"]["plans"][0]["encoding"] == "vni"
    assert any("the text looks like tcvn3, not vni as given by --encoding vni" in w for w in s["warnings"])
    assert check(scene, "--encoding", "tcvn3", plan="qh.shp") == 1
    assert not any("looks like" in w for w in summary(scene)["warnings"])


def test_units_covered_whole_are_copied_not_shared(scene):
    """A plan zone covering a whole commune gets the commune's shape as its piece.  Batch runs check
    plans on threads that prepare and release their pieces' GEOS indexes: a unit object shared
    between two plans crashed the process.  Each plan gets its own copy."""
    from kgspatial.admin import split_by_units
    from kgspatial.check import AdminInput, _read_admin
    from kgspatial.prepare import kinds_of

    geoms.units_frame().to_file(scene / "xa.gpkg")
    units = _read_admin(
        AdminInput(str(scene / "xa.gpkg"), "ma_xa", "ten_xa"), CheckOptions(master="", plans=[]), geoms.CRS
    )
    import numpy as np

    plan = np.array([geoms.box(0, 0, 200, 200)], dtype=object)  # covers both units whole
    pieces = split_by_units(plan, kinds_of(plan), units)
    assert len(pieces.geoms) == 2
    for piece, unit in zip(pieces.geoms, pieces.right):
        assert piece is not units.geoms[unit] and piece.equals(units.geoms[unit])


def test_master_encoding_has_its_own_option(scene, capsys):
    """--encoding is the plans'; a master whose .cpg contradicts its text is read with
    --master-encoding, which the error names."""
    master = geoms.master_frame().assign(
        TEN=[
            t.encode("tcvn3").decode("latin-1")
            for t in ["Đất chuyên trồng lúa", "Đất rừng phòng hộ", "Đất ở tại đô thị"]
        ]
    )
    pyogrio.write_dataframe(master, scene / "qh_tinh.shp", encoding="ISO-8859-1")
    (scene / "qh_tinh.cpg").write_text("UTF-8")
    geoms.plan_frame().to_file(scene / "plan.gpkg")
    argv = [
        "check",
        "--master",
        str(scene / "qh_tinh.shp"),
        "--plan",
        str(scene / "plan.gpkg"),
        "--rules",
        str(scene / "rules.csv"),
        "--out",
        str(scene / "out"),
        "-q",
        "--master-label-field",
        "TEN",
    ]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "give --master-encoding tcvn3" in capsys.readouterr().err
    assert main([*argv, "--master-encoding", "tcvn3"]) == 1
    labels = set(gpd.read_file(scene / "out" / "conflicts.gpkg")["master_label"])
    assert labels <= {"Đất chuyên trồng lúa", "Đất rừng phòng hộ", "Đất ở tại đô thị"} and labels


def test_field_names_under_a_cpg_of_1252_over_tcvn3(scene):
    plan = polygons()
    raw = lambda text: text.encode("tcvn3").decode("latin-1")  # noqa: E731
    frame = gpd.GeoDataFrame(
        {raw("MãQH"): plan["ma"].tolist(), raw("Tên"): [raw("Khu ở mới")] * len(plan)},
        geometry=plan.geometry.tolist(),
        crs=geoms.CRS,
    )
    pyogrio.write_dataframe(frame, scene / "qh.shp", encoding="ISO-8859-1")
    (scene / "qh.cpg").write_text("1252")
    assert check(scene, "--plan-field", "MãQH", "--plan-label-field", "Tên", plan="qh.shp") == 1
    assert set(gpd.read_file(scene / "out" / "conflicts.gpkg")["plan_label"]) == {"Khu ở mới"}


def test_rules_with_excels_sep_line(scene):
    (scene / "rules.csv").write_text("sep=;\n" + geoms.RULES_CSV.replace(",", ";"), encoding="utf-8")
    geoms.plan_frame().to_file(scene / "plan.gpkg")
    assert check(scene) == 1
    assert summary(scene)["totals"]["conflict_area_m2"] == pytest.approx(CONFLICT_M2)


def test_zip_with_parent_paths_is_refused_plainly(scene, capsys):
    shp = write_shapefile(scene)
    zip_shapefile(shp, scene / "tro_ra.zip", folder="../../")
    assert check(scene, plan="tro_ra.zip") == 2
    err = capsys.readouterr().err
    assert "unsafe member path '../../qh" in err and "/vsizip/" not in err
