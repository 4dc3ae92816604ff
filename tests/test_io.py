"""Reading what users have: every format, zipped shapefiles with folders, legacy text, ESRI .prj."""

from __future__ import annotations

import warnings
import zipfile

import geopandas as gpd
import pyogrio
import pytest

import kgspatial.textcodec  # noqa: F401  (registers the tcvn3 / vni codecs)
from kgspatial.errors import CRSError, InputError
from kgspatial.io import read_layer, split_selector
from tests import geoms

# An ESRI-style .prj as local agencies send it: VN-2000 TM-3 104-30 with no EPSG code.
ESRI_PRJ = (
    'PROJCS["VN_2000_KienGiang_104_30",GEOGCS["GCS_VN_2000",DATUM["D_Vietnam_2000",'
    'SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],'
    'PARAMETER["Central_Meridian",104.5],PARAMETER["Scale_Factor",0.9999],'
    'PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]'
)
NAMES = ["Đất trồng lúa", "Đất rừng phòng hộ", "Đất ở tại đô thị"]


def legacy_shapefile(path, encoding: str, with_cpg: bool = False):
    """Write a shapefile whose DBF holds `encoding` bytes, as old ArcView/MapInfo tools did."""
    frame = gpd.GeoDataFrame(
        {"KyHieu": ["LUC", "RPH", "ODT"], "TenLoai": [n.encode(encoding).decode("latin-1") for n in NAMES]},
        geometry=list(geoms.master_frame().geometry),
        crs=geoms.CRS,
    )
    pyogrio.write_dataframe(frame, path, encoding="ISO-8859-1")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    if with_cpg:
        path.with_suffix(".cpg").write_text(encoding)
    path.with_suffix(".prj").write_text(ESRI_PRJ)
    return path


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_legacy_text_detected_without_cpg(tmp_path, encoding):
    layer = read_layer(legacy_shapefile(tmp_path / "sdd.shp", encoding))
    assert layer.encoding == encoding
    assert list(layer.gdf["TenLoai"]) == NAMES


def test_cpg_honoured_and_encoding_override(tmp_path):
    layer = read_layer(legacy_shapefile(tmp_path / "a.shp", "vni"), encoding="vni")
    assert list(layer.gdf["TenLoai"]) == NAMES and layer.encoding == "vni"
    # A wrong --encoding is the user's word: it is obeyed, and the text shows it.
    assert read_layer(tmp_path / "a.shp", encoding="latin-1").gdf["TenLoai"].iloc[0] != NAMES[0]
    utf = tmp_path / "u.shp"
    geoms.plan_frame().iloc[[0, 3]].to_file(utf, encoding="utf-8")
    assert utf.with_suffix(".cpg").exists()
    assert read_layer(utf).gdf["ten"].iloc[1] == "Khu ở hiện hữu"


def test_esri_prj_recognised_as_epsg_9207(tmp_path):
    layer = read_layer(legacy_shapefile(tmp_path / "sdd.shp", "tcvn3"))
    assert layer.crs.to_epsg() == 9207


def test_zip_with_folder_and_selector(tmp_path):
    legacy_shapefile(tmp_path / "sdd.shp", "tcvn3")
    plan = tmp_path / "quy_hoach.shp"
    geoms.plan_frame().iloc[[0, 3]].to_file(plan, encoding="utf-8")
    one = tmp_path / "one.zip"
    with zipfile.ZipFile(one, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            zf.write(tmp_path / f"sdd.{ext}", f"Ho so QH/ban do/sdd.{ext}")
    layer = read_layer(one)
    assert list(layer.gdf["TenLoai"]) == NAMES and layer.crs.to_epsg() == 9207
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            zf.write(tmp_path / f"sdd.{ext}", f"a/sdd.{ext}")
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            zf.write(tmp_path / f"quy_hoach.{ext}", f"b/quy_hoach.{ext}")
    with pytest.raises(InputError, match="2 layers"):
        read_layer(two)
    assert len(read_layer(f"{two}::quy_hoach").gdf) == 2


@pytest.mark.parametrize("suffix,driver", [(".geojson", "GeoJSON"), (".fgb", "FlatGeobuf"), (".parquet", None)])
def test_other_formats(tmp_path, suffix, driver):
    frame = geoms.plan_frame()
    path = tmp_path / f"plan{suffix}"
    if driver is None:
        frame.to_parquet(path)
    else:
        frame.to_file(path, driver=driver)
    layer = read_layer(path)
    assert len(layer.gdf) == 6
    assert layer.encoding == "utf-8"
    assert "Khu dân cư mới" in set(layer.gdf["ten"])  # FlatGeobuf may reorder features
    assert layer.crs.to_epsg() in (9207, 4326)  # GeoJSON is always WGS 84


def test_geopackage_layers(tmp_path):
    path = tmp_path / "qh.gpkg"
    geoms.master_frame().to_file(path, layer="sdd_2030")
    geoms.plan_frame().to_file(path, layer="quy_hoach")
    assert len(read_layer(f"{path}::quy_hoach").gdf) == 6
    assert len(read_layer(f"{path}|layername=sdd_2030").gdf) == 3
    with pytest.raises(InputError, match="no layer 'khac'; layers: sdd_2030, quy_hoach"):
        read_layer(f"{path}::khac")
    # No selector: reading "the first" could check the wrong layer, so the user is asked to choose.
    with pytest.raises(InputError, match=r"holds 2 layers \(sdd_2030, quy_hoach\); choose one as .*qh.gpkg::sdd_2030"):
        read_layer(path)


def test_geopackage_with_one_layer_and_an_attribute_table(tmp_path):
    """An attribute table (no geometry) does not count: the one layer with geometry is read
    without a selector."""
    import pandas as pd

    path = tmp_path / "qh.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"ghi_chu": ["bảng thuộc tính"]}), path, layer="a_bang", driver="GPKG")
    geoms.plan_frame().to_file(path, layer="z_quy_hoach")
    assert len(pyogrio.list_layers(path)) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "More than one layer found" on the user's terminal
        layer = read_layer(path)
    assert len(layer.gdf) == 6 and layer.gdf.geometry.notna().all()


def test_attribute_table_alone_is_refused_and_null_geometries_kept(tmp_path):
    """A layer with no geometry column is named as such; rows with a null geometry survive the
    read (the check counts and reports them later, nothing is silently lost)."""
    import pandas as pd

    table = tmp_path / "bang.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"ma": ["LUC"]}), table, layer="bang", driver="GPKG")
    with pytest.raises(InputError, match="no geometry column"):
        read_layer(table)
    frame = geoms.plan_frame()
    frame.loc[1, "geometry"] = None
    frame.to_file(tmp_path / "p.gpkg")
    layer = read_layer(tmp_path / "p.gpkg")
    assert len(layer.gdf) == 6 and layer.gdf.geometry.isna().sum() == 1
    assert list(layer.gdf["ma"]) == list(frame["ma"]) and layer.gdf.crs.to_epsg() == 9207


def test_fiona_engine(tmp_path):
    path = legacy_shapefile(tmp_path / "sdd.shp", "vni")
    layer = read_layer(path, engine="fiona")
    assert list(layer.gdf["TenLoai"]) == NAMES and layer.engine == "fiona"


def test_selector_syntax():
    assert split_selector("a.gpkg::x") == ("a.gpkg", "x")
    assert split_selector("a.gpkg|layername=x") == ("a.gpkg", "x")
    assert split_selector("C:/data/a.gpkg") == ("C:/data/a.gpkg", None)


def test_no_crs_is_named(tmp_path):
    path = legacy_shapefile(tmp_path / "sdd.shp", "tcvn3")
    path.with_suffix(".prj").unlink()
    with pytest.raises(CRSError, match="no coordinate reference system"):
        read_layer(path)
    assert read_layer(path, assume_crs="EPSG:9207").crs_source == "assumed"


def test_unsupported_suffix(tmp_path):
    (tmp_path / "plan.dwg").write_bytes(b"AC1027")
    with pytest.raises(InputError, match="unsupported file type .dwg"):
        read_layer(tmp_path / "plan.dwg")


def test_only_selected_columns_are_read(tmp_path):
    """Real land-use layers carry dozens of attributes; the check reads only what it uses."""
    frame = geoms.plan_frame().assign(dien_tich=1.0, ghi_chu="x", nguoi_ve="y")
    frame.to_file(tmp_path / "p.gpkg")
    frame.to_parquet(tmp_path / "p.parquet")
    shp = legacy_shapefile(tmp_path / "legacy.shp", "tcvn3")
    for path, wanted in (
        (tmp_path / "p.gpkg", ["ma", "ten"]),
        (tmp_path / "p.parquet", ["ma", "ten"]),
        (shp, ["TenLoai"]),
    ):
        layer = read_layer(path, select=lambda names, w=wanted: [n for n in names if n in w])
        assert sorted(c for c in layer.gdf.columns if c != "geometry") == sorted(wanted)
    assert list(read_layer(shp, select=lambda names: ["TenLoai"]).gdf["TenLoai"]) == NAMES


def test_ellipsoid_without_datum_is_a_warning(tmp_path):
    """'+proj=utm +zone=48 +ellps=WGS84' could be VN-2000 or WGS 84 (225 m apart): say so."""
    frame = geoms.plan_frame().iloc[[0]]
    path = tmp_path / "utm.shp"
    frame.to_file(path)
    path.with_suffix(".prj").write_text(
        'PROJCS["UTM 48",GEOGCS["unknown",DATUM["unknown",SPHEROID["WGS 84",6378137,298.257223563]],'
        'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
        'PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",105],PARAMETER["scale_factor",0.9996],'
        'PARAMETER["false_easting",500000],PARAMETER["false_northing",0],UNIT["metre",1]]'
    )
    layer = read_layer(path)
    assert any("no datum" in w and "225 m" in w for w in layer.warnings), layer.warnings
    assert read_layer(tmp_path / "utm.shp", assume_crs="EPSG:9207").warnings == layer.warnings  # has a CRS


def test_heights_are_dropped(tmp_path):
    """CAD exports carry Z; areas are 2D and the outputs stay one geometry type."""
    import shapely as _shapely

    from kgspatial.check import CheckOptions, PlanInput, run_check

    plan = geoms.plan_frame().iloc[[0, 4]]
    plan = plan.set_geometry(_shapely.force_3d(plan.geometry.values, 5.0))
    plan.to_file(tmp_path / "p.shp", encoding="utf-8")
    geoms.master_frame().to_file(tmp_path / "m.gpkg")
    (tmp_path / "r.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    result = run_check(
        CheckOptions(
            master=str(tmp_path / "m.gpkg"), plans=[PlanInput(str(tmp_path / "p.shp"))], rules=str(tmp_path / "r.csv")
        )
    )
    assert result.summary["inputs"]["plans"][0]["heights_dropped"] == 2
    assert not _shapely.has_z(result.conflicts.geometry.values).any()
    assert sorted(result.conflicts["area_m2"].round(6)) == [2500.0, 2500.0, 3600.0]  # by hand, tests/geoms.py
