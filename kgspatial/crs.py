"""Coordinate reference systems: recognise what local files carry, reproject with the official shift.

Every reprojection in kgspatial goes through this module, so that VN-2000 <-> WGS 84 always uses
the official 'VN-2000 to WGS 84 (2)' operation (EPSG:6960) and never whatever PROJ would pick by
default. PROJ's default is *not* safe here: its candidates are EPSG:6960 (all of onshore Vietnam)
and EPSG:5194 'VN-2000 to WGS 84 (1)' (a Total oil-company set for Mekong delta blocks DBSCL 02
and 03, 9.35-11.04N 104.24-107.11E). PROJ chooses per point, so the Kiên Giang mainland (Rạch Giá)
gets (1) while Phú Quốc, west of 104.24E, gets (2): about 0.8 m apart, and inconsistent within one
province.

The official operation
----------------------
Decision 05/2007/QĐ-BTNMT (Ministry of Natural Resources and Environment, 27 Feb 2007), Art. 1,
publishes the seven parameters between WGS-84 and VN-2000 without naming a rotation convention:
Δx0 = -191.90441429 m, Δy0 = -39.30318279 m, Δz0 = -111.45032835 m, ω0 = -0.00928836",
ψ0 = 0.01975479", ε0 = -0.00427372", k = 1.000000252906278 (i.e. +0.252906278 ppm).
EPSG encodes them as transformation EPSG:6960 'VN-2000 to WGS 84 (2)', source EPSG:4756 (VN-2000)
-> target EPSG:4326 (WGS 84), method EPSG:9607 'Coordinate Frame rotation (geog2D domain)',
information source 'DoSM-Vnm' (Department of Survey and Mapping, Vietnam), area EPSG:3328
'Vietnam - onshore' (EPSG dataset v11.022 as shipped in PROJ 9.5.1's proj.db). We follow EPSG:
VN-2000 -> WGS 84, coordinate-frame convention. Read in the position-vector convention (which is
what a PROJ ``+towgs84=`` string means) the same numbers land about 0.5 m elsewhere.

Files in the wild carry these numbers in a TOWGS84 clause with either sign of the rotations (copied
as published, or flipped to position vector); such a clause identifies the datum as VN-2000 and the
official operation is then applied, whatever convention the file's author had in mind.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from functools import lru_cache
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from pyproj import CRS, Transformer
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion
from pyproj.database import query_crs_info
from pyproj.enums import PJType
from pyproj.exceptions import ProjError
from pyproj.transformer import TransformerGroup

from .errors import CRSError
from .numfmt import en, vn

__all__ = [
    "OFFICIAL_OPERATION",
    "OFFICIAL_OPERATION_CODE",
    "VN2000_TO_WGS84_OFFICIAL",
    "VN2000_TO_WGS84_TOTAL",
    "VN2000_PROJECTED_CONFIRMED",
    "recognise",
    "read_prj",
    "transformer",
    "transform_geometries",
    "to_crs",
    "describe_transformation",
    "vn2000_to_wgs84_pipeline",
    "vn2000_projected_table",
    "crs_label",
    "datum_warning",
]

OFFICIAL_OPERATION = "VN-2000 to WGS 84 (2)"
OFFICIAL_OPERATION_CODE = "EPSG:6960"

# Decision 05/2007/QĐ-BTNMT Art. 1 = EPSG:6960, VN-2000 -> WGS 84, Coordinate Frame rotation
# (EPSG method 9607). Metres, arc-seconds, parts per million.
VN2000_TO_WGS84_OFFICIAL: dict[str, float] = {
    "tx": -191.90441429,
    "ty": -39.30318279,
    "tz": -111.45032835,
    "rx": -0.00928836,
    "ry": 0.01975479,
    "rz": -0.00427372,
    "ds_ppm": 0.252906278,
}
# EPSG:5194 'VN-2000 to WGS 84 (1)', Coordinate Frame rotation, "Used by Total in Mekong delta"
# (area EPSG:3770). Only used to recognise a TOWGS84 clause as meaning VN-2000; never applied.
VN2000_TO_WGS84_TOTAL: dict[str, float] = {
    "tx": -192.873,
    "ty": -39.382,
    "tz": -111.202,
    "rx": 0.00205,
    "ry": 0.0005,
    "rz": -0.00335,
    "ds_ppm": 0.0188,
}

# VN-2000 projected CRSs confirmed in the EPSG dataset (v11.022, PROJ 9.5.1), all Transverse
# Mercator, latitude of origin 0, false northing 0:  code: (central meridian °, k, false easting m).
# The runtime table is read from proj.db (vn2000_projected_table); the tests check it equals this.
# Deprecated EPSG:6956-6959 (false easting and northing swapped) are left out.
VN2000_PROJECTED_CONFIRMED: dict[int, tuple[float, float, float]] = {
    3405: (105.0, 0.9996, 500000.0),  # VN-2000 / UTM zone 48N
    3406: (111.0, 0.9996, 500000.0),  # VN-2000 / UTM zone 49N
    5896: (102.0, 0.9999, 500000.0),  # VN-2000 / TM-3 zone 481 (102-00)
    5897: (105.0, 0.9999, 500000.0),  # VN-2000 / TM-3 zone 482 (105-00)
    5898: (108.0, 0.9999, 500000.0),  # VN-2000 / TM-3 zone 491 (108-00)
    5899: (107.75, 0.9999, 500000.0),  # VN-2000 / TM-3 107-45
    9205: (103.0, 0.9999, 500000.0),  # VN-2000 / TM-3 103-00
    9206: (104.0, 0.9999, 500000.0),  # VN-2000 / TM-3 104-00
    9207: (104.5, 0.9999, 500000.0),  # VN-2000 / TM-3 104-30 (Kiên Giang)
    9208: (104.75, 0.9999, 500000.0),  # VN-2000 / TM-3 104-45
    9209: (105.5, 0.9999, 500000.0),  # VN-2000 / TM-3 105-30
    9210: (105.75, 0.9999, 500000.0),  # VN-2000 / TM-3 105-45
    9211: (106.0, 0.9999, 500000.0),  # VN-2000 / TM-3 106-00
    9212: (106.25, 0.9999, 500000.0),  # VN-2000 / TM-3 106-15
    9213: (106.5, 0.9999, 500000.0),  # VN-2000 / TM-3 106-30
    9214: (107.0, 0.9999, 500000.0),  # VN-2000 / TM-3 107-00
    9215: (107.25, 0.9999, 500000.0),  # VN-2000 / TM-3 107-15
    9216: (107.5, 0.9999, 500000.0),  # VN-2000 / TM-3 107-30
    9217: (108.25, 0.9999, 500000.0),  # VN-2000 / TM-3 108-15
    9218: (108.5, 0.9999, 500000.0),  # VN-2000 / TM-3 108-30
}

_EPSG_VN2000 = 4756  # VN-2000 geographic 2D (EPSG)
_EPSG_WGS84 = 4326  # WGS 84 geographic 2D (EPSG)
_EPSG_TM_METHOD = "9807"  # EPSG method code: Transverse Mercator
_WGS84_A = 6378137.0  # WGS 84 ellipsoid, EPSG:7030 (also VN-2000's, Decision 83/2000/QĐ-TTg)
_WGS84_RF = 298.257223563

_OFFICIAL_RE = re.compile(r"VN-2000 to WGS 84 \(2\)")
_ANY_VN_WGS_RE = re.compile(r"VN-2000 to WGS 84 \(\d+\)")


# --------------------------------------------------------------------------- recognition


def recognise(crs_like: Any) -> CRS:
    """Turn anything naming a CRS into the EPSG CRS it means, so equal CRSs compare equal.

    Accepts EPSG ints and strings, WKT (ESRI .prj included), PROJ strings and pyproj CRSs.
    Local agencies' ESRI .prj files name VN-2000 in many spellings and carry no EPSG code; they
    are matched on datum and projection parameters. Unknown but valid CRSs come back as parsed.
    """
    if crs_like is None:
        raise CRSError.say("chưa cho hệ tọa độ", "no coordinate reference system given")
    if isinstance(crs_like, bool):
        raise CRSError.say(f"không phải là hệ tọa độ: {crs_like!r}", f"not a coordinate reference system: {crs_like!r}")
    if isinstance(crs_like, Integral):
        return _from_epsg(int(crs_like))
    if isinstance(crs_like, bytes):
        crs_like = crs_like.decode("utf-8", errors="replace")
    if isinstance(crs_like, str):
        text = crs_like.strip().lstrip("\ufeff").strip()
        if not text:
            raise CRSError.say(
                "hệ tọa độ để trống (ví dụ EPSG:9207)", "empty coordinate reference system text (e.g. EPSG:9207)"
            )
        return _recognise_text(text)
    if isinstance(crs_like, CRS):
        return _recognise_text(crs_like.to_wkt())
    try:
        crs = CRS.from_user_input(crs_like)
    except (pyproj.exceptions.CRSError, TypeError, ValueError) as exc:
        raise CRSError.say(
            f"không phải là hệ tọa độ: {_snippet(crs_like)}", f"not a coordinate reference system: {_snippet(crs_like)}"
        ) from exc
    return _recognise_text(crs.to_wkt())


def read_prj(path: str | Path) -> CRS | None:
    """The CRS of a shapefile's .prj (or of the .prj beside a .shp); None when there is none."""
    path = Path(path)
    if path.suffix.lower() != ".prj":
        path = path.with_suffix(".prj")
        if not path.exists():
            path = path.with_suffix(".PRJ")
    if not path.is_file():
        return None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.strip()
    if not text:
        return None
    try:
        return recognise(text)
    except CRSError as exc:
        if exc.vi is None:
            raise CRSError(f"{path.name}: {exc}") from exc
        raise CRSError.say(f"{path.name}: {exc.vi}", exc.en) from exc


_EPSG_CODE_RE = re.compile(r"^(?:epsg\s*:\s*)?(\d{4,6})$", re.IGNORECASE)


@lru_cache(maxsize=512)
def _recognise_text(text: str) -> CRS:
    m = _EPSG_CODE_RE.match(text)
    if m:  # an explicit code is taken at its word, deprecated or not
        return _from_epsg(int(m.group(1)))
    try:
        crs = CRS.from_user_input(text)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError.say(
            f"không nhận ra hệ tọa độ {_snippet(text)} (ví dụ EPSG:9207, VN-2000 / TM-3 104-30)",
            f"unrecognised coordinate reference system: {_snippet(text)} (e.g. EPSG:9207)",
        ) from exc
    return _identify(crs)


def _identify(crs: CRS) -> CRS:
    own = _own_id(crs)
    if own is not None:
        return _from_epsg(own)
    if crs.is_bound:
        base = crs.source_crs
        kind = _towgs84_kind(crs)
        if kind is not None:
            return _match(base, kind) or (_vn2000_grid(base) if kind == "wgs84" else None) or base
    code = _unique_epsg(crs)
    if code is not None:
        return _from_epsg(code)
    kind = _datum_kind(crs)
    if kind is not None:
        matched = _match(crs, kind)
        if matched is not None:
            return matched
    if kind != "vn2000" and crs.geodetic_crs is not None and _wgs84_ellipsoid(crs.geodetic_crs):
        return _vn2000_grid(crs) or crs  # VN-2000's own grid, its datum named otherwise
    return crs


def _vn2000_grid(crs: CRS) -> CRS | None:
    """The VN-2000 CRS whose grid a Transverse Mercator CRS on the WGS 84 ellipsoid has, whatever
    datum it names, when that grid exists only on VN-2000 (scale 0.9999, the TM-3 zones): MapInfo
    has no VN-2000 datum, so GDAL's and many converters' MapInfo exports write VN-2000 as WGS 84,
    and hand-made .prj files name it freely.  UTM grids (0.9996) exist on both: not taken."""
    tm = _tm_params(crs)
    if tm is None or abs(tm[2] - 0.9996) < 1e-10:
        return None
    code = _vn2000_code(*tm)
    return _from_epsg(code) if code is not None else None


def _vn2000_code(lat0: float, cm: float, k: float, fe: float, fn: float) -> int | None:
    """The EPSG code of the VN-2000 Transverse Mercator grid with these parameters, if there is one."""
    if abs(lat0) > 1e-9 or abs(fn) > 1e-3:
        return None
    for code, (c_cm, c_k, c_fe) in vn2000_projected_table().items():
        if abs(cm - c_cm) < 1e-7 and abs(k - c_k) < 1e-10 and abs(fe - c_fe) < 1e-3:
            return code
    return None


def _own_id(crs: CRS) -> int | None:
    """The EPSG id the text itself declares (WKT2 ID / WKT1 AUTHORITY at the top level)."""
    ident = crs.to_json_dict().get("id")
    if isinstance(ident, dict) and ident.get("authority") == "EPSG":
        try:
            return int(ident["code"])
        except (TypeError, ValueError):
            return None
    return None


def _unique_epsg(crs: CRS) -> int | None:
    """An EPSG code PROJ matches with confidence >= 70, only if it is the single best match.

    A projection given on the WGS 84 ellipsoid without a datum ('+proj=utm +zone=48 +ellps=WGS84')
    matches DGN95, VN-2000 and WGS 84 UTM 48N equally; taking the first would be a coin toss.
    """
    try:
        matches = crs.list_authority(auth_name="EPSG", min_confidence=70)
    except ProjError:
        return None
    if not matches:
        return None
    best = max(m.confidence for m in matches)
    top = {m.code for m in matches if m.confidence == best}
    if len(top) != 1:
        return None
    code = int(top.pop())
    try:
        if CRS.from_epsg(code).is_deprecated:
            return None
    except pyproj.exceptions.CRSError:
        return None
    return code


def _norm(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (name or "").lower())


_VN_DATUM_RE = re.compile(r"(vn|vietnam)2000")  # searched: hand-made .prj add a place ("D_VN_2000_KienGiang")
_WGS_DATUM_RE = re.compile(r"^d?(wgs1984|wgs84|worldgeodeticsystem1984(ensemble)?)$")


def _datum_kind(crs: CRS) -> str | None:
    """'vn2000', 'wgs84' or None, from the datum's name (any spelling) or EPSG id."""
    geod = crs.geodetic_crs
    if geod is None:
        return None
    datum = geod.datum
    ident = datum.to_json_dict().get("id") if datum is not None else None
    code = str(ident.get("code")) if isinstance(ident, dict) else ""
    name = _norm(datum.name if datum is not None else None)
    if not _wgs84_ellipsoid(geod):
        return None
    if code == "6756" or _VN_DATUM_RE.search(name):  # EPSG:6756 = datum 'Vietnam 2000'
        return "vn2000"
    if code == "6326" or _WGS_DATUM_RE.match(name):  # EPSG:6326 = datum 'World Geodetic System 1984'
        return "wgs84"
    return None


def _wgs84_ellipsoid(geod: CRS) -> bool:
    ell = geod.ellipsoid
    if ell is None:
        return False
    rf = ell.inverse_flattening
    return abs(ell.semi_major_metre - _WGS84_A) < 1e-3 and rf is not None and abs(rf - _WGS84_RF) < 1e-6


def _towgs84_kind(crs: CRS) -> str | None:
    """What a TOWGS84 clause tells about a bound CRS's datum: 'vn2000', 'wgs84' or None."""
    geod = crs.source_crs.geodetic_crs if crs.source_crs is not None else None
    if geod is None or not _wgs84_ellipsoid(geod):
        return None
    target = crs.target_crs
    if target is None or _datum_kind(target) != "wgs84":
        return None
    params = _helmert_params(crs.coordinate_operation)
    if params is None:
        return None
    if all(abs(v) < 1e-9 for v in params):
        return "wgs84"
    for ref in (VN2000_TO_WGS84_OFFICIAL, VN2000_TO_WGS84_TOTAL):
        r = [ref[k] for k in ("tx", "ty", "tz", "rx", "ry", "rz", "ds_ppm")]
        same_t = all(abs(a - b) < 1e-3 for a, b in zip(params[:3], r[:3]))
        # rotations compared without sign: both conventions are found in real files
        same_r = all(abs(abs(a) - abs(b)) < 1e-6 for a, b in zip(params[3:6], r[3:6]))
        same_s = abs(params[6] - r[6]) < 1e-6
        if same_t and same_r and same_s:
            return "vn2000"
    return None


def _helmert_params(op) -> list[float] | None:
    """[tx, ty, tz (m), rx, ry, rz (arc-seconds), ds (ppm)] of a 3- or 7-parameter operation."""
    if op is None:
        return None
    by_code: dict[str, float] = {}
    for p in op.params:
        if p.auth_name != "EPSG":
            continue
        by_code[p.code] = p.value * (p.unit_conversion_factor or 1.0)
    # EPSG parameter codes: 8605-8607 translations, 8608-8610 rotations, 8611 scale difference.
    if not all(c in by_code for c in ("8605", "8606", "8607")):
        return None
    rad_to_arcsec = 180.0 / math.pi * 3600.0
    rot = [by_code.get(c, 0.0) * rad_to_arcsec for c in ("8608", "8609", "8610")]
    ds_ppm = by_code.get("8611", 0.0) * 1e6  # unit factor turns ppm into a pure ratio
    return [by_code["8605"], by_code["8606"], by_code["8607"], *rot, ds_ppm]


def _match(crs: CRS, kind: str) -> CRS | None:
    """The EPSG CRS a VN-2000 / WGS 84 geographic or Transverse Mercator CRS means."""
    if crs.is_geographic and len(crs.axis_info) == 2 and _greenwich_degrees(crs):
        return _from_epsg(_EPSG_VN2000 if kind == "vn2000" else _EPSG_WGS84)
    tm = _tm_params(crs)
    if tm is None:
        return None
    lat0, cm, k, fe, fn = tm
    if kind == "vn2000":
        code = _vn2000_code(lat0, cm, k, fe, fn)
        if code is not None:
            return _from_epsg(code)
        # a VN-2000 grid without an EPSG code: rebuild it on EPSG:4756 so that the official
        # datum shift applies to it like to any other VN-2000 CRS
        return ProjectedCRS(
            conversion=TransverseMercatorConversion(
                latitude_natural_origin=lat0,
                longitude_natural_origin=cm,
                false_easting=fe,
                false_northing=fn,
                scale_factor_natural_origin=k,
            ),
            geodetic_crs=CRS.from_epsg(_EPSG_VN2000),
            name=f"VN-2000 / TM {_dms(cm)} k={k:g}",
        )
    # WGS 84 / UTM: EPSG:32601-32660 (north, FN 0), EPSG:32701-32760 (south, FN 10 000 km);
    # central meridian of zone z = 6z - 183 (EPSG conversions 16001-16060 / 16101-16160).
    if abs(lat0) < 1e-9 and abs(k - 0.9996) < 1e-10 and abs(fe - 500000.0) < 1e-3:
        zone = (cm + 183.0) / 6.0
        if abs(zone - round(zone)) < 1e-9 and 1 <= round(zone) <= 60:
            if abs(fn) < 1e-3:
                return _from_epsg(32600 + int(round(zone)))
            if abs(fn - 10_000_000.0) < 1e-3:
                return _from_epsg(32700 + int(round(zone)))
    return None


def _greenwich_degrees(crs: CRS) -> bool:
    geod = crs.geodetic_crs
    pm = geod.prime_meridian if geod is not None else None
    if pm is None or abs(pm.longitude) > 1e-12:
        return False
    return all(abs(ax.unit_conversion_factor - math.pi / 180.0) < 1e-12 for ax in crs.axis_info)


def _tm_params(crs: CRS) -> tuple[float, float, float, float, float] | None:
    """(lat0 °, central meridian °, k, FE m, FN m) of a metre-based Transverse Mercator CRS."""
    if not crs.is_projected or crs.is_bound:
        return None
    conv = crs.coordinate_operation
    if conv is None or str(conv.method_code) != _EPSG_TM_METHOD or conv.method_auth_name != "EPSG":
        return None
    if len(crs.axis_info) != 2 or any(abs(ax.unit_conversion_factor - 1.0) > 1e-12 for ax in crs.axis_info):
        return None
    if not _greenwich_degrees(crs.geodetic_crs):
        return None
    v: dict[str, float] = {}
    for p in conv.params:
        if p.auth_name == "EPSG":
            v[p.code] = p.value * (p.unit_conversion_factor or 1.0)
    # EPSG parameter codes: 8801 lat. of natural origin, 8802 long. of natural origin,
    # 8805 scale factor, 8806 false easting, 8807 false northing (angles come in radians here).
    try:
        return (math.degrees(v["8801"]), math.degrees(v["8802"]), v["8805"], v["8806"], v["8807"])
    except KeyError:
        return None


@lru_cache(maxsize=1)
def vn2000_projected_table() -> dict[int, tuple[float, float, float]]:
    """VN-2000 Transverse Mercator CRSs of the EPSG dataset: code -> (CM °, k, FE m).

    Read from proj.db, not hard-coded, so that a newer EPSG dataset is picked up; only
    non-deprecated CRSs with latitude of origin 0 and false northing 0 are listed.
    """
    table: dict[int, tuple[float, float, float]] = {}
    for info in query_crs_info(auth_name="EPSG", pj_types=PJType.PROJECTED_CRS, allow_deprecated=False):
        if not info.name.startswith("VN-2000 /"):
            continue
        crs = CRS.from_epsg(int(info.code))
        if _datum_kind(crs) != "vn2000":
            continue
        tm = _tm_params(crs)
        if tm is None:
            continue
        lat0, cm, k, fe, fn = tm
        if abs(lat0) < 1e-9 and abs(fn) < 1e-3:
            table[int(info.code)] = (round(cm, 9), round(k, 12), round(fe, 6))
    return dict(sorted(table.items()))


# Where a layer's coordinates may really be when its declared CRS puts it nowhere near the master
# plan: the VN-2000 projected CRSs above, WGS 84 / UTM 48N and 49N (EPSG:32648, 32649, the zones
# covering Viet Nam) and plain degrees, WGS 84 (EPSG:4326) and VN-2000 (EPSG:4756).
_OTHER_CANDIDATES = (32648, 32649, 4326, 4756)


def likely_crs(
    sample: np.ndarray,
    declared: Any,
    analysis: Any,
    fit: Callable[[np.ndarray], float],
    limit: int = 3,
    min_share: float = 0.5,
) -> list[str]:
    """Labels of the CRSs under which `sample` (a few points, in the layer's own coordinates)
    would land on the master plan, best first: the hint a user needs when a .prj is wrong.

    `fit(points)` gives the share of points (in the analysis CRS) that fall on the master plan.
    """
    declared_crs = recognise(declared) if declared is not None else None
    analysis_crs = recognise(analysis)
    codes = [analysis_crs.to_epsg(), *vn2000_projected_table(), *_OTHER_CANDIDATES]
    scored = []
    for rank, code in enumerate(dict.fromkeys(c for c in codes if c is not None)):
        candidate = _from_epsg(code)
        if declared_crs is not None and candidate == declared_crs:
            continue
        try:
            moved = transform_geometries(sample, candidate, analysis_crs)
        except CRSError:
            continue
        share = fit(moved)
        if share >= min_share:
            scored.append((-share, rank, crs_label(candidate)))
    return [label for *_, label in sorted(scored)[:limit]]


def _from_epsg(code: int) -> CRS:
    try:
        return _from_epsg_cached(code)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError.say(f"không có mã EPSG {code}", f"unknown EPSG code: {code}") from exc


@lru_cache(maxsize=256)
def _from_epsg_cached(code: int) -> CRS:
    return CRS.from_epsg(code)


def _dms(deg: float) -> str:
    d = int(math.floor(deg))
    m = round((deg - d) * 60.0, 4)
    return f"{d}-{m:02g}" if m else f"{d}-00"


def _snippet(obj: Any, n: int = 80) -> str:
    s = " ".join(str(obj).split())
    return repr(s if len(s) <= n else s[: n - 1] + "…")


def crs_label(crs_like: Any) -> str:
    """'EPSG:9207 (VN-2000 / TM-3 104-30)' or the CRS's name, for summaries and messages."""
    crs = recognise(crs_like)
    code = _own_id(crs)
    return f"EPSG:{code} ({crs.name})" if code is not None else crs.name


def datum_warning(crs_like: Any) -> str | None:
    """A one-line warning when the datum a CRS names is not the one it is taken on, else None.

    A CRS with an ellipsoid but no datum ('+proj=utm +zone=48 +ellps=WGS84') could be VN-2000 or
    WGS 84, about 225 m apart in Kiên Giang. A VN-2000 TM-3 grid (k 0.9999) exists only on
    VN-2000 and is taken as such whatever datum the file names (MapInfo exports say WGS 84,
    hand-made .prj files invent names); anything else is moved by PROJ with no datum shift.
    """
    crs = recognise(crs_like)
    try:
        raw = crs_like if isinstance(crs_like, CRS) else CRS.from_user_input(crs_like)
    except (pyproj.exceptions.CRSError, TypeError, ValueError):
        return None
    geod = raw.geodetic_crs
    said = _towgs84_kind(raw) if raw.is_bound else _datum_kind(raw)
    if said == "vn2000" or geod is None or geod.datum is None:
        return None
    taken, taken_kind = crs_label(crs), _datum_kind(crs)
    if said == "wgs84":
        if taken_kind != "vn2000":
            return None
        return (
            f"CRS '{raw.name}' says WGS 84 on a grid only VN-2000 has: taken as {taken}, as MapInfo"
            " exports write VN-2000; were the coordinates really WGS 84 they would lie about 225 m off"
        )
    if raw.is_bound:
        return None
    name = _norm(geod.datum.name)
    if name.startswith("unknown") or name.startswith("dunknown") or name == "notspecified":
        if taken_kind is not None:
            return f"CRS '{raw.name}' gives no datum; taken as {taken} from its projection parameters"
        return (
            f"CRS '{raw.name}' gives an ellipsoid but no datum: reprojected without a datum shift; "
            f"VN-2000 and WGS 84 differ by about 225 m here (correct the .prj)"
        )
    if taken_kind == "vn2000":
        return f"CRS '{raw.name}' names the datum '{geod.datum.name}' on a grid only VN-2000 has: taken as {taken}"
    if taken_kind is None and _wgs84_ellipsoid(geod) and "id" not in geod.datum.to_json_dict():
        return (
            f"CRS '{raw.name}' names the datum '{geod.datum.name}', unknown here: reprojected without a datum"
            " shift; VN-2000 and WGS 84 differ by about 225 m here (correct the .prj)"
        )
    return None


# --------------------------------------------------------------------------- transformation


def transformer(src: Any, dst: Any) -> Transformer:
    """The Transformer (x=easting/longitude first) for src -> dst, VN-2000 <-> WGS 84 pinned.

    When the path crosses VN-2000 and WGS 84 the official 'VN-2000 to WGS 84 (2)' is taken from
    the candidate operations; if PROJ does not offer it, this fails rather than fall back.
    """
    s, d = recognise(src), recognise(dst)
    # One per thread: a service transforms an upload while a job transforms a check, and two
    # threads in one PROJ transformer crash the process (seen: segfault in libproj).
    return _transformer_cached(s.to_wkt(), d.to_wkt(), threading.get_ident())


@lru_cache(maxsize=256)
def _transformer_cached(src_wkt: str, dst_wkt: str, thread: int) -> Transformer:
    src, dst = CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt)
    kinds = (_datum_kind(src), _datum_kind(dst))
    if kinds.count("vn2000") == 1:
        try:
            group = TransformerGroup(src, dst, always_xy=True)
        except ProjError as exc:
            raise CRSError(f"no transformation {crs_label(src)} -> {crs_label(dst)}: {exc}") from exc
        candidates = list(group.transformers)
        pinned = [t for t in candidates if any(_OFFICIAL_RE.search(n) for n in _op_names(t))]
        other = "wgs84" in kinds
        crosses = other or any(any(_ANY_VN_WGS_RE.search(n) for n in _op_names(t)) for t in candidates)
        if crosses:
            if not pinned:
                raise CRSError(
                    f"PROJ offers no '{OFFICIAL_OPERATION}' ({OFFICIAL_OPERATION_CODE}) for "
                    f"{crs_label(src)} -> {crs_label(dst)}; refusing another VN-2000 shift"
                )
            return pinned[0]
    try:
        return Transformer.from_crs(src, dst, always_xy=True)
    except ProjError as exc:
        raise CRSError(f"no transformation {crs_label(src)} -> {crs_label(dst)}: {exc}") from exc


def _op_names(t: Transformer) -> list[str]:
    names = [op.name for op in (t.operations or ())]
    return names or [t.description or ""]


def describe_transformation(src: Any, dst: Any) -> str:
    """The datum operation(s) used for src -> dst, by EPSG name, for the run summary."""
    s, d = recognise(src), recognise(dst)
    if s == d:
        return "none (same CRS)"
    t = transformer(s, d)
    ops = list(t.operations or ())
    if not ops:
        if (t.description or "").startswith("unavailable"):
            group = TransformerGroup(s, d, always_xy=True)
            names = sorted({n for g in group.transformers for n in _datum_op_names(g)})
            return "PROJ's choice per point among: " + ", ".join(names) if names else "PROJ default"
        return t.description or t.name or "unknown"
    names = _datum_op_names(t)
    return " + ".join(names) if names else "conversion only (no datum change)"


def _datum_op_names(t: Transformer) -> list[str]:
    return [op.name for op in (t.operations or ()) if op.type_name != "Conversion"]


def vn2000_to_wgs84_pipeline() -> str:
    """The PROJ pipeline of the official VN-2000 -> WGS 84 shift (lon/lat order), for the record."""
    return transformer(_EPSG_VN2000, _EPSG_WGS84).definition


def transform_geometries(geoms: Any, src: Any, dst: Any) -> np.ndarray:
    """Reproject an array of shapely geometries in one vectorised pass; Z is kept where present."""
    arr = np.asarray(geoms, dtype=object)
    s, d = recognise(src), recognise(dst)
    if s == d:
        return arr.copy()
    t = transformer(s, d)

    def _apply(x, y, z=None):
        if s.is_geographic and len(x):
            wild = np.nonzero((np.abs(x) > 360) | (np.abs(y) > 90))[0]
            if len(wild):  # metres under a degrees CRS: say so, not PROJ's "Invalid latitude"
                k = wild[0]
                if (np.abs(x[wild]) <= 90).all() and (np.abs(y[wild]) <= 360).all():
                    raise CRSError.say(
                        f"tọa độ như x = {vn(x[k], 4)}, y = {vn(y[k], 4)} là vĩ độ và kinh độ bị đảo chỗ: x phải là"
                        " kinh độ; hãy đổi chỗ hai cột",
                        f"coordinates such as x = {en(x[k], 4)}, y = {en(y[k], 4)} are latitude and longitude in"
                        " the wrong order: x must be the longitude; swap them",
                    )
                vi_fix = en_fix = ""
                if _datum_kind(s) == "vn2000":  # e.g. assume_crs=VN2000: the datum, not a TM-3 zone
                    vi_fix = (
                        "; tọa độ VN-2000 tính bằng mét thuộc một múi chiếu TM-3, ví dụ EPSG:9207"
                        " (VN-2000 / TM-3 104-30, Kiên Giang) hoặc EPSG:9208 (VN-2000 / TM-3 104-45, An Giang)"
                    )
                    en_fix = (
                        "; VN-2000 coordinates in metres are in a TM-3 zone, e.g. EPSG:9207"
                        " (VN-2000 / TM-3 104-30, Kiên Giang) or EPSG:9208 (VN-2000 / TM-3 104-45, An Giang)"
                    )
                raise CRSError.say(
                    f"tọa độ như x = {vn(x[k])}, y = {vn(y[k])} không phải là độ, nhưng hệ tọa độ của lớp là"
                    f" {crs_label(s)} (tính bằng độ){vi_fix}",
                    f"coordinates such as x = {en(x[k])}, y = {en(y[k])} are not degrees, yet the layer's"
                    f" CRS is {crs_label(s)}{en_fix}",
                )
        try:
            if z is None:
                out = t.transform(x, y, errcheck=True)
            else:
                out = t.transform(x, y, z, errcheck=True)
        except ProjError as exc:
            raise CRSError.say(
                f"chuyển hệ tọa độ {crs_label(s)} -> {crs_label(d)} không được: {exc}",
                f"reprojection {crs_label(s)} -> {crs_label(d)} failed: {exc}",
            ) from exc
        if not all(np.isfinite(c).all() for c in out[:2]):
            raise CRSError.say(
                f"chuyển hệ tọa độ {crs_label(s)} -> {crs_label(d)} cho tọa độ không hữu hạn",
                f"reprojection {crs_label(s)} -> {crs_label(d)} gave non-finite coordinates",
            )
        return out

    return shapely.transform(arr, _apply, include_z=None, interleaved=False)


def to_crs(gdf, dst: Any):
    """Reproject a GeoDataFrame (every geometry column) through the pinned transformer.

    Same CRS in and out: the frame comes back as it is (only its CRS label is normalised).
    """
    import geopandas as gpd

    if gdf.crs is None:
        raise CRSError.say("lớp không có hệ tọa độ", "layer has no coordinate reference system")
    src = recognise(gdf.crs)
    d = recognise(dst)
    if src == d:
        if gdf.crs.to_wkt() == d.to_wkt():
            return gdf
        return gdf.set_crs(d, allow_override=True)
    out = gdf.copy()
    for col in out.columns:
        series = out[col]
        if not isinstance(series, gpd.GeoSeries):
            continue
        col_src = recognise(series.crs) if series.crs is not None else src
        moved = transform_geometries(series.values, col_src, d)
        out[col] = gpd.GeoSeries(moved, index=out.index, crs=d)
    return out.set_crs(d, allow_override=True)
