"""kgspatial.crs: the VN-2000 <-> WGS 84 pin checked against a hand-written Helmert, and the
recognition of the .prj files local agencies actually ship."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS, Transformer
from pyproj.crs import CoordinateOperation
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from kgspatial import crs as K
from kgspatial.errors import CRSError, InputError

# --------------------------------------------------------------------------- independent Helmert
# Written from the EPSG Guidance Note 7-2 formulas, with no PROJ involved.

A = 6378137.0  # WGS 84 ellipsoid (EPSG:7030); VN-2000 uses the same ellipsoid
F = 1.0 / 298.257223563
E2 = F * (2.0 - F)
ARCSEC = np.pi / (180.0 * 3600.0)

# Decision 05/2007/QĐ-BTNMT, Art. 1 (typed here from the decision, not from the module)
DX, DY, DZ = -191.90441429, -39.30318279, -111.45032835  # m
RX, RY, RZ = -0.00928836, 0.01975479, -0.00427372  # arc-seconds
DS_PPM = 0.252906278  # k = 1.000000252906278

RACH_GIA = (105.08, 10.01)  # lon, lat: Rạch Giá, inside EPSG:5194's DBSCL 02/03 area
KG_POINTS = [
    RACH_GIA,
    (104.48, 10.38),  # Hà Tiên
    (103.96, 10.22),  # Phú Quốc (west of 104.24E: PROJ's default already gives (2))
    (105.06, 9.80),  # An Biên
    (105.37, 10.08),  # Tân Hiệp / Giồng Riềng side
]


def geodetic_to_ecef(lon, lat, h=0.0):
    lon, lat = np.radians(lon), np.radians(lat)
    n = A / np.sqrt(1.0 - E2 * np.sin(lat) ** 2)
    return np.array(
        [
            (n + h) * np.cos(lat) * np.cos(lon),
            (n + h) * np.cos(lat) * np.sin(lon),
            (n * (1.0 - E2) + h) * np.sin(lat),
        ]
    )


def ecef_to_geodetic(xyz):
    x, y, z = xyz
    lon = np.arctan2(y, x)
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1.0 - E2))
    for _ in range(20):
        n = A / np.sqrt(1.0 - E2 * np.sin(lat) ** 2)
        h = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1.0 - E2 * n / (n + h)))
    return np.degrees(lon), np.degrees(lat)


def rotation(convention: str):
    rx, ry, rz = RX * ARCSEC, RY * ARCSEC, RZ * ARCSEC
    # EPSG 9607 / 1032 Coordinate Frame rotation (GN 7-2 §4.4.3.1); Position Vector is its transpose
    r = np.array([[1.0, rz, -ry], [-rz, 1.0, rx], [ry, -rx, 1.0]])
    return r if convention == "coordinate_frame" else r.T


def helmert_vn2000_to_wgs84(lon, lat, convention="coordinate_frame"):
    t = np.array([DX, DY, DZ])
    m = 1.0 + DS_PPM * 1e-6
    return ecef_to_geodetic(t + m * rotation(convention) @ geodetic_to_ecef(lon, lat))


def helmert_wgs84_to_vn2000(lon, lat):
    """Exact inverse of the coordinate-frame forward (solve the 3x3 system)."""
    t = np.array([DX, DY, DZ])
    m = 1.0 + DS_PPM * 1e-6
    return ecef_to_geodetic(np.linalg.solve(m * rotation("coordinate_frame"), geodetic_to_ecef(lon, lat) - t))


def ground_distance(p, q):
    """Chord between two lon/lat points on the ellipsoid surface, metres (same as arc at this scale)."""
    return float(np.linalg.norm(geodetic_to_ecef(*p) - geodetic_to_ecef(*q)))


def project(src, dst, lon, lat):
    """A pure map projection step (no datum change) done with PROJ directly."""
    t = Transformer.from_crs(src, dst, always_xy=True)
    assert "to WGS 84" not in t.description
    return t.transform(lon, lat)


# --------------------------------------------------------------------------- (a) the pin


def test_hand_helmert_is_self_consistent():
    xyz = geodetic_to_ecef(*RACH_GIA)
    t, m, r = np.array([DX, DY, DZ]), 1.0 + DS_PPM * 1e-6, rotation("coordinate_frame")
    assert np.abs(np.linalg.solve(m * r, (t + m * r @ xyz) - t) - xyz).max() < 1e-8
    assert ground_distance(ecef_to_geodetic(xyz), RACH_GIA) < 1e-8
    fwd = helmert_vn2000_to_wgs84(*RACH_GIA)
    # 2D round trip (heights dropped in between, as PROJ's 2D operation does): sub-millimetre
    assert ground_distance(helmert_wgs84_to_vn2000(*fwd), RACH_GIA) < 1e-3
    # the datum shift itself, for scale: VN-2000 and WGS 84 lon/lat differ by ~225 m here
    assert 200.0 < ground_distance(fwd, RACH_GIA) < 250.0


def test_official_parameters_are_epsg_6960_coordinate_frame():
    op = CoordinateOperation.from_epsg(6960)
    assert op.name == K.OFFICIAL_OPERATION
    assert op.method_name == "Coordinate Frame rotation (geog2D domain)"  # EPSG method 9607
    values = {p.name: p.value for p in op.params}
    assert values["X-axis translation"] == DX and values["Y-axis translation"] == DY
    assert values["Z-axis translation"] == DZ
    assert (values["X-axis rotation"], values["Y-axis rotation"], values["Z-axis rotation"]) == (RX, RY, RZ)
    assert values["Scale difference"] == DS_PPM
    ref = K.VN2000_TO_WGS84_OFFICIAL
    assert (ref["tx"], ref["ty"], ref["tz"], ref["rx"], ref["ry"], ref["rz"], ref["ds_ppm"]) == (
        DX,
        DY,
        DZ,
        RX,
        RY,
        RZ,
        DS_PPM,
    )
    total = {p.name: p.value for p in CoordinateOperation.from_epsg(5194).params}
    assert total["X-axis translation"] == K.VN2000_TO_WGS84_TOTAL["tx"]
    assert total["Scale difference"] == K.VN2000_TO_WGS84_TOTAL["ds_ppm"]
    pipe = K.vn2000_to_wgs84_pipeline()
    assert "convention=coordinate_frame" in pipe and "x=-191.90441429" in pipe


@pytest.mark.parametrize("lon,lat", KG_POINTS)
def test_pinned_vn2000_to_wgs84_matches_hand_helmert(lon, lat):
    got = K.transformer(4756, 4326).transform(lon, lat)
    assert ground_distance(got, helmert_vn2000_to_wgs84(lon, lat)) < 1e-3


def test_rach_gia_default_proj_is_off_and_convention_matters():
    expected = helmert_vn2000_to_wgs84(*RACH_GIA)
    pinned = K.transformer(4756, 4326).transform(*RACH_GIA)
    default = Transformer.from_crs(4756, 4326, always_xy=True).transform(*RACH_GIA)
    off_default = ground_distance(default, expected)
    # measured with PROJ 9.5.1 / EPSG v11.022: 0.813 m (PROJ picks EPSG:5194 '(1)' here)
    assert off_default > 0.3
    assert off_default == pytest.approx(0.813, abs=0.01)
    assert ground_distance(pinned, expected) < 1e-3
    # the same seven numbers read as position vector (what a +towgs84 string means): ~0.54 m away
    off_pv = ground_distance(helmert_vn2000_to_wgs84(*RACH_GIA, "position_vector"), expected)
    assert off_pv == pytest.approx(0.544, abs=0.01)
    assert ground_distance(pinned, helmert_vn2000_to_wgs84(*RACH_GIA, "position_vector")) > 0.3


def test_through_kien_giang_grid_9207():
    x, y = project(4756, 9207, *RACH_GIA)
    expected = helmert_vn2000_to_wgs84(*RACH_GIA)
    got = K.transformer(9207, 4326).transform(x, y)
    assert ground_distance(got, expected) < 1e-3
    default = Transformer.from_crs(9207, 4326, always_xy=True).transform(x, y)
    assert ground_distance(default, expected) > 0.3
    # inverse: WGS 84 -> EPSG:9207, round trip and against the hand inverse
    back = K.transformer(4326, 9207).transform(*got)
    assert np.hypot(back[0] - x, back[1] - y) < 1e-3
    hand_vn = helmert_wgs84_to_vn2000(*expected)
    hx, hy = project(4756, 9207, *hand_vn)
    fx, fy = K.transformer(4326, 9207).transform(*expected)
    assert np.hypot(fx - hx, fy - hy) < 1e-3


def test_through_to_wgs84_utm_48n():
    x, y = project(4756, 9207, *RACH_GIA)
    ex, ey = project(4326, 32648, *helmert_vn2000_to_wgs84(*RACH_GIA))
    gx, gy = K.transformer(9207, 32648).transform(x, y)
    assert np.hypot(gx - ex, gy - ey) < 1e-3
    dx, dy = Transformer.from_crs(9207, 32648, always_xy=True).transform(x, y)
    assert np.hypot(dx - ex, dy - ey) > 0.3


def test_describe_transformation():
    assert K.describe_transformation("EPSG:9207", "EPSG:4326") == "VN-2000 to WGS 84 (2)"
    assert K.describe_transformation(4756, 32648) == "VN-2000 to WGS 84 (2)"
    assert K.describe_transformation(4326, 9207) == "Inverse of VN-2000 to WGS 84 (2)"
    assert K.describe_transformation(9207, 9209) == "conversion only (no datum change)"
    assert K.describe_transformation(9207, "EPSG:9207") == "none (same CRS)"


def test_missing_official_operation_fails_loudly(monkeypatch):
    real = K.TransformerGroup

    class OnlyTotal:
        def __init__(self, *args, **kwargs):
            group = real(*args, **kwargs)
            self.transformers = [t for t in group.transformers if "WGS 84 (2)" not in t.description]

    monkeypatch.setattr(K, "TransformerGroup", OnlyTotal)
    K._transformer_cached.cache_clear()
    try:
        with pytest.raises(CRSError, match=re.escape("VN-2000 to WGS 84 (2)")):
            K.transformer(9207, 4326)
    finally:
        K._transformer_cached.cache_clear()


def test_transformer_is_cached():
    assert K.transformer(9207, 4326) is K.transformer("EPSG:9207", CRS.from_epsg(4326))


# --------------------------------------------------------------------------- (b) recognition

GCS_VN = (
    'GEOGCS["GCS_VN_2000",DATUM["D_Vietnam_2000",SPHEROID["WGS_1984",6378137.0,298.257223563]],'
    'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'
)
GCS_WGS = (
    'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],'
    'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'
)


def esri_tm(name, gcs, cm, k, fn=0.0, projection="Transverse_Mercator"):
    return (
        f'PROJCS["{name}",{gcs},PROJECTION["{projection}"],PARAMETER["False_Easting",500000.0],'
        f'PARAMETER["False_Northing",{fn}],PARAMETER["Central_Meridian",{cm}],'
        f'PARAMETER["Scale_Factor",{k}],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]'
    )


def gdal_towgs(rot):
    rx, ry, rz = rot
    return (
        'PROJCS["VN2000 Kien Giang",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,'
        f"298.257223563],TOWGS84[-191.90441429,-39.30318279,-111.45032835,{rx},{ry},{rz},0.252906278]],"
        'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
        'PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",104.5],'
        'PARAMETER["scale_factor",0.9999],PARAMETER["false_easting",500000],'
        'PARAMETER["false_northing",0],UNIT["metre",1]]'
    )


PRJ_CASES = {
    "vn2000_kien_giang_104_30": (esri_tm("VN_2000_Kien_Giang_104-30", GCS_VN, 104.5, 0.9999), 9207),
    "vn2000_tm3_105_00": (esri_tm("VN_2000_TM3_105-00", GCS_VN, 105.0, 0.9999), 5897),
    "vn2000_gauss_kruger": (esri_tm("VN2000", GCS_VN, 104.5, 0.9999, projection="Gauss_Kruger"), 9207),
    "vn2000_datum_spelling": (esri_tm("KG", GCS_VN.replace("D_Vietnam_2000", "VN_2000"), 104.5, 0.9999), 9207),
    "vn2000_utm_48n": (esri_tm("VN_2000_UTM_Zone_48N", GCS_VN, 105.0, 0.9996), 3405),
    "wgs84_utm_48n": (esri_tm("WGS_1984_UTM_Zone_48N", GCS_WGS, 105.0, 0.9996), 32648),
    "wgs84_utm_48s": (esri_tm("WGS_1984_UTM_Zone_48S", GCS_WGS, 105.0, 0.9996, fn=10000000.0), 32748),
    "wgs84_gcs": (GCS_WGS, 4326),
    "vn2000_gcs": (GCS_VN, 4756),
    "towgs84_as_published": (gdal_towgs((-0.00928836, 0.01975479, -0.00427372)), 9207),
    "towgs84_flipped": (gdal_towgs((0.00928836, -0.01975479, 0.00427372)), 9207),
    "proj_string_towgs84": (
        "+proj=tmerc +lat_0=0 +lon_0=104.5 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 "
        "+towgs84=-191.90441429,-39.30318279,-111.45032835,-0.00928836,0.01975479,"
        "-0.00427372,0.252906278 +units=m +no_defs",
        9207,
    ),
    "proj_string_total_towgs84": (
        "+proj=tmerc +lon_0=104.5 +k=0.9999 +x_0=500000 +ellps=WGS84 "
        "+towgs84=-192.873,-39.382,-111.202,0.00205,0.0005,-0.00335,0.0188",
        9207,
    ),
    "gdal_with_authority": (CRS.from_epsg(9207).to_wkt("WKT1_GDAL"), 9207),
}


@pytest.mark.parametrize("name", sorted(PRJ_CASES))
def test_read_prj_recognises(tmp_path, name):
    text, code = PRJ_CASES[name]
    path = tmp_path / f"{name}.prj"
    path.write_text(text, encoding="utf-8")
    got = K.read_prj(path)
    assert got == CRS.from_epsg(code)
    assert got.to_json_dict()["id"] == {"authority": "EPSG", "code": code}


def test_read_prj_next_to_shp_with_bom(tmp_path):
    (tmp_path / "qh.prj").write_bytes(b"\xef\xbb\xbf" + PRJ_CASES["vn2000_kien_giang_104_30"][0].encode())
    assert K.read_prj(tmp_path / "qh.shp").to_epsg() == 9207


def test_read_prj_missing_or_empty(tmp_path):
    assert K.read_prj(tmp_path / "none.prj") is None
    assert K.read_prj(tmp_path / "none.shp") is None
    (tmp_path / "empty.prj").write_text("  \n")
    assert K.read_prj(tmp_path / "empty.prj") is None


@pytest.mark.parametrize("junk", ["garbage", 'PROJCS["broken",GEOGCS[', "+proj=nonsense +zz=1"])
def test_garbage_is_crs_error(tmp_path, junk):
    path = tmp_path / "bad.prj"
    path.write_text(junk)
    with pytest.raises(CRSError) as info:
        K.read_prj(path)
    assert "bad.prj" in str(info.value) and junk[:10] in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, InputError) and info.value.http_status == 422


@pytest.mark.parametrize("bad", [None, "", 999999, True, object()])
def test_recognise_rejects(bad):
    with pytest.raises(CRSError):
        K.recognise(bad)


@pytest.mark.parametrize(
    "given,code",
    [
        (9207, 9207),
        ("9207", 9207),
        ("EPSG:9207", 9207),
        ("epsg:3405", 3405),
        (CRS.from_epsg(32648), 32648),
        ("+proj=utm +zone=48 +datum=WGS84 +units=m", 32648),
        (np.int64(4326), 4326),
    ],
)
def test_recognise_inputs(given, code):
    assert K.recognise(given).to_json_dict()["id"]["code"] == code


def test_tm3_grid_without_epsg_code_is_rebuilt_on_vn2000():
    got = K.recognise(esri_tm("VN_2000_103-30", GCS_VN, 103.5, 0.9999))
    assert got.geodetic_crs == CRS.from_epsg(4756)
    params = {p.name: p.value for p in got.coordinate_operation.params}
    assert params["Longitude of natural origin"] == 103.5
    # and the official shift applies to it: TM 103-30 computed by hand with the TM formula via
    # a PROJ string (projection only), datum shift by the hand Helmert
    x, y = project(4756, "+proj=tmerc +lon_0=103.5 +k=0.9999 +x_0=500000 +ellps=WGS84", *RACH_GIA)
    got_ll = K.transformer(got, 4326).transform(x, y)
    assert ground_distance(got_ll, helmert_vn2000_to_wgs84(*RACH_GIA)) < 1e-3


def test_towgs84_file_gets_official_shift_whatever_its_sign(tmp_path):
    """A WGS-84-datum .prj with the VN-2000 TOWGS84: PROJ alone ignores the clause (~200 m off)."""
    x, y = project(4756, 9207, *RACH_GIA)
    expected = helmert_vn2000_to_wgs84(*RACH_GIA)
    raw = CRS.from_wkt(PRJ_CASES["towgs84_as_published"][0])
    raw_ll = Transformer.from_crs(raw, 4326, always_xy=True).transform(x, y)
    assert ground_distance(raw_ll, expected) > 100.0
    for name in ("towgs84_as_published", "towgs84_flipped", "proj_string_towgs84"):
        got = K.transformer(K.recognise(PRJ_CASES[name][0]), 4326).transform(x, y)
        assert ground_distance(got, expected) < 1e-3


def test_vn2000_table_matches_epsg_and_names():
    table = K.vn2000_projected_table()
    assert table == K.VN2000_PROJECTED_CONFIRMED
    # independent of the parameters: EPSG names 'VN-2000 / TM-3 DDD-MM' carry the meridian
    for code, (cm, k, fe) in table.items():
        name = CRS.from_epsg(code).name
        m = re.search(r"TM-3 (\d{3})-(\d{2})$", name)
        if m:
            assert cm == int(m.group(1)) + int(m.group(2)) / 60.0
            assert k == 0.9999
        assert fe == 500000.0


def test_ambiguous_ellipsoid_only_crs_is_left_alone_with_warning():
    got = K.recognise("+proj=utm +zone=48 +ellps=WGS84")
    assert got.to_epsg(min_confidence=100) is None
    assert "no datum" in K.datum_warning("+proj=utm +zone=48 +ellps=WGS84")
    assert K.datum_warning("EPSG:9207") is None
    assert K.crs_label(9207) == "EPSG:9207 (VN-2000 / TM-3 104-30)"


@pytest.mark.parametrize(
    "given,code",
    [
        ("+proj=tmerc +lat_0=0 +lon_0=104.5 +k=0.9999 +x_0=500000 +y_0=0 +datum=WGS84 +units=m", 9207),
        ("+proj=tmerc +lat_0=0 +lon_0=104.5 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +towgs84=0,0,0 +units=m", 9207),
        ("+proj=tmerc +lat_0=0 +lon_0=105 +k=0.9999 +x_0=500000 +y_0=0 +datum=WGS84 +units=m", 5897),
    ],
)
def test_vn2000_grid_said_to_be_wgs84_is_vn2000_with_warning(given, code):
    """MapInfo has no VN-2000 datum (GDAL's own export writes EPSG:9207 as WGS 84): a TM-3 grid with
    k 0.9999 exists only on VN-2000, so it is taken as such, and the user is told."""
    assert K.recognise(given).to_epsg() == code
    assert "225 m" in K.datum_warning(given)


CUSTOM_DATUM_PRJ = (  # as hand-made .prj files name VN-2000 (found in a review)
    'PROJCS["VN-2000 / TM3 KG",GEOGCS["GCS_VN2000_KG",DATUM["D_VN_2000_KienGiang",SPHEROID["WGS 84",6378137,'
    '298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",104.5],PARAMETER["scale_factor",0.9999],'
    'PARAMETER["false_easting",500000],PARAMETER["false_northing",0],UNIT["metre",1]]'
)


def test_datum_names_made_up_by_hand():
    """A datum named after VN-2000 is VN-2000; any other name on a TM-3 grid is taken as VN-2000 with
    a warning; on a UTM grid it cannot be told, and the user is warned of the 225 m at stake."""
    assert K.recognise(CUSTOM_DATUM_PRJ).to_epsg() == 9207 and K.datum_warning(CUSTOM_DATUM_PRJ) is None
    local = CUSTOM_DATUM_PRJ.replace("D_VN_2000_KienGiang", "D_Local_KG")
    assert K.recognise(local).to_epsg() == 9207
    assert "names the datum 'D_Local_KG' on a grid only VN-2000 has" in K.datum_warning(local)
    utm = local.replace("104.5", "105").replace("0.9999", "0.9996")
    assert K.recognise(utm).to_epsg() is None
    assert "without a datum shift" in K.datum_warning(utm)
    # to WGS 84 UTM 48N the VN-2000-named file goes exactly as EPSG:9207 does (official shift, not none)
    x, y = 567_000.0, 1_106_000.0
    got = K.transformer(CUSTOM_DATUM_PRJ, "EPSG:32648").transform(x, y)
    want = K.transformer("EPSG:9207", "EPSG:32648").transform(x, y)
    assert got == pytest.approx(want, abs=1e-6)


def test_utm_on_wgs84_stays_wgs84():
    """UTM grids exist on both datums: a WGS 84 UTM 48N is taken at its word, without a warning."""
    given = "+proj=utm +zone=48 +datum=WGS84"
    assert K.recognise(given).to_epsg() == 32648
    assert K.datum_warning(given) is None


# --------------------------------------------------------------------------- (c) geometries


def kg_geometries():
    x0, y0 = project(4756, 9207, *RACH_GIA)
    sq = Polygon(
        [(x0, y0), (x0 + 500, y0), (x0 + 500, y0 + 400), (x0, y0 + 400)],
        [[(x0 + 100, y0 + 100), (x0 + 200, y0 + 100), (x0 + 200, y0 + 200)]],
    )
    return np.array(
        [
            Point(x0, y0),
            LineString([(x0, y0), (x0 + 1000, y0 + 250), (x0 + 2000, y0 - 100)]),
            sq,
            MultiPolygon([sq, shapely.affinity.translate(sq, 3000, 0)]),
            Point(x0 + 10, y0 + 10, 2.5),
            None,
            Point(),
        ],
        dtype=object,
    )


def test_transform_geometries_keeps_types_and_matches_points():
    geoms = kg_geometries()
    out = K.transform_geometries(geoms, 9207, 4326)
    assert out.shape == geoms.shape
    t = K.transformer(9207, 4326)
    for g, h in zip(geoms, out):
        if g is None:
            assert h is None
            continue
        assert h.geom_type == g.geom_type and h.has_z == g.has_z and h.is_empty == g.is_empty
        if g.is_empty:
            continue
        src = shapely.get_coordinates(g, include_z=g.has_z)
        dst = shapely.get_coordinates(h, include_z=h.has_z)
        # a 2D operation still uses Z as the height in its Cartesian step (0.1 mm per 3 m here)
        ex, ey = t.transform(*src.T)[:2]
        assert np.abs(dst[:, 0] - ex).max() < 1e-12 and np.abs(dst[:, 1] - ey).max() < 1e-12
        if g.has_z:
            assert dst[:, 2].tolist() == src[:, 2].tolist()
    # and the first point is where the hand Helmert puts it
    assert ground_distance((out[0].x, out[0].y), helmert_vn2000_to_wgs84(*RACH_GIA)) < 1e-3


def test_to_crs_geodataframe(tmp_path):
    geoms = [g for g in kg_geometries()[:4]]
    esri = CRS.from_wkt(PRJ_CASES["vn2000_kien_giang_104_30"][0])
    gdf = gpd.GeoDataFrame({"code": ["LUA", "DGT", "ODT", "RPH"]}, geometry=geoms, crs=esri)
    out = K.to_crs(gdf, "EPSG:4326")
    assert out.crs == CRS.from_epsg(4326) and out.crs.to_epsg() == 4326
    assert list(out["code"]) == list(gdf["code"]) and list(out.geom_type) == list(gdf.geom_type)
    expected = K.transform_geometries(np.array(geoms, dtype=object), 9207, 4326)
    assert all(a.equals_exact(b, 1e-12) for a, b in zip(out.geometry, expected))
    assert gdf.crs == esri  # input untouched
    back = K.to_crs(out, 9207)
    assert all(a.equals_exact(b, 1e-3) for a, b in zip(back.geometry, geoms))
    same = K.to_crs(back, "EPSG:9207")
    assert same is back
    relabelled = K.to_crs(gdf, 9207)
    assert relabelled.crs.to_epsg() == 9207
    assert all(a.equals(b) for a, b in zip(relabelled.geometry, gdf.geometry))
    with pytest.raises(CRSError, match="no coordinate reference system"):
        K.to_crs(gpd.GeoDataFrame(geometry=geoms), 4326)
