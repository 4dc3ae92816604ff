"""Hazard screening (CONTRACT §8): which parts of a plan lie where the water will be, by depth band.

Rasters in (depth, or elevation with a water level), pieces out, through the same prepared plan
layers and commune split as `check`.  Figures are exact against the cells' boundaries:

* exactextract gives, per feature, every cell it touches with its coverage (the fraction of the
  cell's area inside a polygon, or the line's length inside the cell), read window by window;
  that decides which bands a feature falls into and weights its mean and max depth;
* a feature that lies in one band only is its own piece (no geometry work, the usual case);
  one that straddles bands is cut by the cells themselves: the cells of its window polygonised
  by band (rasterio), reprojected when the raster is in another CRS (cell edges densified, the
  VN-2000 <-> WGS 84 step through the official parameters, crs.py), intersected with it.

Cells with no data, and parts off the raster, are *unknown*, never safe: `unknown_m2` (lines:
`unknown_m`) and a row of verdict `unknown` with their geometry.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml

from . import crs as crs_mod
from .check import _group  # the conflicts' totals per group: same pieces, area, length and points
from .engine import NOISE, keep_kind, measure
from .errors import CRSError, InputError, RulesError, say
from .prepare import KIND_NAMES, LINE, POINT, POLYGON, PreparedLayer
from .rules import SEVERITIES, UNKNOWN_CODE, VERDICTS, WILDCARD, _delimiter, _side_scores
from .taxonomy import Taxonomy

MEASURES = ("depth", "elevation")
RULE_COLUMNS = ("rule_id", "plan_code", "hazard_id", "min_depth", "verdict", "severity")
RULE_OPTIONAL = ("reference", "note")
UNKNOWN = "unknown"  # verdict of the rows that hold a feature's no-data part
HAZARD_COLUMNS = [
    "finding_id",
    "plan_id",
    "plan_feature",
    "plan_code",
    "plan_label",
    "hazard_id",
    "rule_id",
    "min_depth",
    "verdict",
    "severity",
    "reference",
    "kind",
    "area_m2",
    "length_m",
    "share",
    "max_depth",
    "mean_depth",
    "unknown_m2",
    "unknown_m",
]
HAZARDS_LAYER = "hazards"
GDAL_CACHE_MB = 256
STRATEGY = "feature-sequential"  # a window per feature: "raster-sequential" read the whole 20,000² raster (1.5 GB)
# Magic numbers of TIFF and BigTIFF, both byte orders (TIFF 6.0 §2; BigTIFF: 43 in place of 42).
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
TILE = 1024  # cells a side of the tiles a large part is screened by
TILE_CELLS = TILE * TILE  # at most this many cells are read (float64) for one piece, or for one run of small parts
NO_DATA = -np.finfo(np.float64).max  # what exactextract is handed for a cell with no data
_YAML_LAYER_KEYS = {
    "id",
    "name_vi",
    "name_en",
    "path",
    "band",
    "measure",
    "level",
    "scenario",
    "source",
    "assume_crs",
    "illustrative",
}


# ----------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class HazardLayer:
    id: str
    name_vi: str
    name_en: str
    path: Path  # absolute
    written: str  # the path as the HAZARDS.yaml says it, for messages
    band: int = 1
    measure: str = "depth"
    level: float | None = None
    scenario: str = ""
    source: str = ""
    illustrative: bool = False
    assume_crs: str | None = None


@dataclass(frozen=True)
class HazardRule:
    rule_id: str
    plan_code: str
    hazard_id: str
    min_depth: float
    verdict: str
    severity: str
    reference: str
    note: str
    row: int


@dataclass
class BandTable:
    """For each plan code (taxonomy index) and hazard: its ascending thresholds and their rules."""

    codes: tuple[str, ...]
    # hazard id -> per code index: (thresholds array, rule indices array); empty when no rule applies
    per_hazard: dict[str, list[tuple[np.ndarray, np.ndarray]]]

    def index(self, code: str | None) -> int:
        lookup = self.__dict__.setdefault("_lookup", {c: i for i, c in enumerate(self.codes)})
        return lookup.get(code, len(self.codes) - 1) if code else len(self.codes) - 1


@dataclass
class HazardConfig:
    path: Path
    written: str
    layers: list[HazardLayer]
    rules: list[HazardRule]
    rules_path: Path
    rules_sha256: str
    bands: BandTable

    def layer(self, hazard_id: str) -> HazardLayer:
        return next(h for h in self.layers if h.id == hazard_id)


def load_hazards(path: str | Path, taxonomy: Taxonomy, written: str | None = None) -> HazardConfig:
    """Read HAZARDS.yaml and its rules table; every problem of both is listed at once (exit 2)."""
    path = Path(path).expanduser()
    shown = written or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{shown}: hazards file not found / không có tệp cấu hình ngập") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{shown}: cannot read the hazards file ({exc}) / không đọc được tệp cấu hình ngập") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError([f"not valid YAML ({' '.join(str(exc).split())})"], source=shown) from None
    base = path.resolve().parent
    problems: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list) or not data["layers"]:
        raise RulesError(["a hazards file is a mapping with `layers` (a non-empty list) and `rules`"], source=shown)
    unknown_top = sorted(set(data) - {"layers", "rules"})
    if unknown_top:
        problems.append(f"unknown key(s) {', '.join(map(str, unknown_top))}")
    layers: list[HazardLayer] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["layers"]):
        where = f"layers[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected a mapping (id, path, measure, ...)")
            continue
        hid = raw.get("id", "")
        text_id = isinstance(hid, str)
        if not text_id:  # a list or a number is no id: str() made "[1, 2]" of [1, 2]
            problems.append(f"{where}.id: {hid!r} không phải chuỗi ký tự / is not a text id (write it in quotes)")
            hid = ""
        hid = hid.strip()
        where += f" ({hid})" if hid else ""
        extra = sorted(set(raw) - _YAML_LAYER_KEYS)
        if extra:
            problems.append(f"{where}: unknown key(s) {', '.join(map(str, extra))}")
        if not hid and text_id:
            problems.append(f"{where}.id: missing")
        elif hid in seen:
            problems.append(f"{where}.id: {hid!r} is used twice")
        seen.add(hid)
        written_path = raw.get("path")
        if not isinstance(written_path, str) or not written_path.strip():
            problems.append(f"{where}.path: missing")
            written_path = ""
        measure_ = str(raw.get("measure", "depth")).strip().lower()
        if measure_ not in MEASURES:
            problems.append(f"{where}.measure: {raw.get('measure')!r} is not depth or elevation")
        level = raw.get("level")
        if level is not None and (
            isinstance(level, bool) or not isinstance(level, (int, float)) or not math.isfinite(level)
        ):
            problems.append(f"{where}.level: {level!r} is not a number of metres")
            level = None
        if measure_ == "elevation" and level is None and "level" not in raw:
            problems.append(f"{where}.level: required with measure: elevation (the water level, m)")
        if measure_ == "depth" and level is not None:
            problems.append(f"{where}.level: only with measure: elevation (a depth raster is already water depth)")
        band = raw.get("band", 1)
        if isinstance(band, bool) or not isinstance(band, int) or band < 1:
            problems.append(f"{where}.band: {band!r} is not a band number (1, 2, ...)")
            band = 1
        assume = raw.get("assume_crs")
        if assume is not None:
            try:
                crs_mod.recognise(str(assume))
            except Exception as exc:  # noqa: BLE001  (pyproj's own error types too)
                problems.append(f"{where}.assume_crs: {exc}")
        layers.append(
            HazardLayer(
                id=hid,
                name_vi=str(raw.get("name_vi") or hid),
                name_en=str(raw.get("name_en") or raw.get("name_vi") or hid),
                path=(base / written_path).resolve() if written_path else base,
                written=written_path,
                band=band,
                measure=measure_,
                level=float(level) if level is not None else None,
                scenario=str(raw.get("scenario") or ""),
                source=str(raw.get("source") or ""),
                illustrative=bool(raw.get("illustrative", False)),
                assume_crs=str(assume) if assume is not None else None,
            )
        )
    rules_written = data.get("rules")
    if not isinstance(rules_written, str) or not rules_written.strip():
        problems.append("rules: missing (the hazard-rules table, e.g. rules: hazard_rules.csv)")
        raise RulesError(problems, source=shown)
    rules_path = (base / rules_written).resolve()
    rules, sha = [], ""
    try:
        raw_rules = rules_path.read_bytes()
        sha = hashlib.sha256(raw_rules).hexdigest()
        rules = parse_hazard_rules(raw_rules, taxonomy, {h.id for h in layers}, rules_written, problems)
    except OSError:
        problems.append(f"rules: {rules_written}: file not found / không có bảng quy tắc")
    if problems:
        raise RulesError(problems, source=shown)
    bands = compile_bands(rules, taxonomy, [h.id for h in layers], rules_written)
    return HazardConfig(
        path=path.resolve(),
        written=shown,
        layers=layers,
        rules=rules,
        rules_path=rules_path,
        rules_sha256=sha,
        bands=bands,
    )


def parse_hazard_rules(
    raw: bytes, taxonomy: Taxonomy, hazard_ids: set[str], name: str, problems: list[str]
) -> list[HazardRule]:
    """hazard_rules.csv (CONTRACT §8); problems go to `problems`, prefixed with the file's name."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(f"{name}: not UTF-8 text (save it as CSV UTF-8)")
        return []
    try:
        rows = list(csv.reader(text.splitlines(), delimiter=_delimiter(text), strict=True))
    except csv.Error as exc:
        problems.append(f"{name}: not a readable CSV table ({exc})")
        return []
    if not rows:
        problems.append(f"{name}: empty (a header row is needed)")
        return []
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in RULE_COLUMNS if c not in header]
    extra = [h for h in header if h and h not in RULE_COLUMNS + RULE_OPTIONAL]
    if missing or extra:
        problems += [f"{name}: header: missing column(s) {', '.join(missing)}"] if missing else []
        problems += [f"{name}: header: unknown column(s) {', '.join(extra)}"] if extra else []
        return []
    col = {h: header.index(h) for h in header if h}
    out: list[HazardRule] = []
    ids: dict[str, int] = {}
    keys: dict[tuple, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cell = {k: (row[i].strip() if i < len(row) else "") for k, i in col.items()}
        where = f"{name}: row {line}"
        rid = cell["rule_id"]
        if not rid:
            problems.append(f"{where}, rule_id: empty")
        elif rid in ids:
            problems.append(f"{where}, rule_id: {rid!r} already used on row {ids[rid]}")
        ids.setdefault(rid, line)
        code = cell["plan_code"]
        canonical = WILDCARD if code == WILDCARD else (taxonomy.canonical(code) if code else None)
        if canonical is None:
            problems.append(f"{where}, plan_code: {code!r} is not a taxonomy code, group or *")
        hid = cell["hazard_id"]
        if hid not in hazard_ids:
            problems.append(
                f"{where}, hazard_id: {hid!r} is not a layer of the hazards file"
                f" ({', '.join(sorted(hazard_ids)) or 'none'})"
            )
        try:
            depth = float(cell["min_depth"].replace(",", "."))
            if not math.isfinite(depth):
                raise ValueError
        except ValueError:
            problems.append(f"{where}, min_depth: {cell['min_depth']!r} is not a number of metres")
            depth = math.nan
        verdict = cell["verdict"].lower()
        if verdict not in VERDICTS:
            problems.append(f"{where}, verdict: {cell['verdict']!r} is not one of {', '.join(VERDICTS)}")
        severity = cell["severity"].lower()
        if severity and severity not in SEVERITIES:
            problems.append(f"{where}, severity: {cell['severity']!r} is not one of {', '.join(SEVERITIES)}")
        elif not severity and verdict in ("conflict", "conditional"):
            problems.append(f"{where}, severity: required for a {verdict} rule")
        key = (canonical, hid, depth)
        if canonical and not math.isnan(depth):
            if key in keys:
                problems.append(f"{where}: {code} / {hid} / min_depth {depth:g} already has a rule on row {keys[key]}")
            keys.setdefault(key, line)
        out.append(
            HazardRule(
                rid,
                canonical or "",
                hid,
                depth,
                verdict,
                severity,
                cell.get("reference", ""),
                cell.get("note", ""),
                line,
            )
        )
    if not out:
        problems.append(f"{name}: the table has no rules")
    return out


def compile_bands(rules: list[HazardRule], taxonomy: Taxonomy, hazard_ids: list[str], name: str) -> BandTable:
    """Per hazard and plan code: the rows of the most specific plan_code that matches (code 2,
    group 1, * 0), as ascending thresholds.  Two different plan_code values tying for a code is a
    table error, as in §3."""
    codes = tuple(taxonomy.codes) + (UNKNOWN_CODE,)
    per_hazard: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    problems: list[str] = []
    for hid in hazard_ids:
        own = [i for i, r in enumerate(rules) if r.hazard_id == hid]
        sides = sorted({rules[i].plan_code for i in own})
        if not sides:
            per_hazard[hid] = [(np.empty(0), np.empty(0, np.int64))] * len(codes)
            continue
        scores = np.stack([_side_scores(s, codes, taxonomy) for s in sides])  # [sides, codes]
        best = scores.max(axis=0)
        table = []
        for c in range(len(codes)):
            if best[c] < 0:
                table.append((np.empty(0), np.empty(0, np.int64)))
                continue
            winners = np.nonzero(scores[:, c] == best[c])[0]
            if len(winners) > 1:
                # No "{name}: " here: RulesError(source=name) already names the table once.
                problems.append(
                    say(
                        f"hiểm họa {hid}: các mã quy hoạch {' và '.join(sides[w] for w in winners)}"
                        f" ngang nhau cho mã quy hoạch {codes[c]}",
                        f"hazard {hid}: plan codes {' and '.join(sides[w] for w in winners)} tie"
                        f" for plan code {codes[c]}",
                    )
                )
                table.append((np.empty(0), np.empty(0, np.int64)))
                continue
            mine = sorted((rules[i].min_depth, i) for i in own if rules[i].plan_code == sides[winners[0]])
            table.append((np.array([d for d, _ in mine]), np.array([i for _, i in mine], dtype=np.int64)))
        per_hazard[hid] = table
    if problems:
        raise RulesError(sorted(set(problems)), source=name)
    return BandTable(codes=codes, per_hazard=per_hazard)


# ----------------------------------------------------------------------------------------- rasters


@dataclass
class Raster:
    """An opened hazard raster: what the screening and the maps need of it."""

    layer: HazardLayer
    dataset: Any  # rasterio DatasetReader
    crs: Any  # pyproj CRS (recognised)
    crs_source: str
    nodata: float | None
    scale: float = 1.0
    offset: float = 0.0
    mask_band: bool = False  # an internal or side-car mask (or alpha) says which cells have data

    @property
    def cell_area(self) -> float:
        t = self.dataset.transform
        return abs(t.a * t.e - t.b * t.d)

    def info(self, analysis_crs) -> dict:
        ds = self.dataset
        return {
            "id": self.layer.id,
            "name_vi": self.layer.name_vi,
            "name_en": self.layer.name_en,
            "path": self.layer.written,
            "band": self.layer.band,
            "measure": self.layer.measure,
            "level": self.layer.level,
            "scenario": self.layer.scenario,
            "source": self.layer.source,
            "illustrative": self.layer.illustrative,
            "crs": crs_mod.crs_label(self.crs),
            "crs_source": self.crs_source,
            "transformation": crs_mod.describe_transformation(self.crs, analysis_crs),
            "width": ds.width,
            "height": ds.height,
            "cell_size": [abs(ds.transform.a), abs(ds.transform.e)],
            "nodata": None if self.nodata is None or math.isnan(self.nodata) else self.nodata,
            "bounds": list(ds.bounds),
        }

    def close(self) -> None:
        self.dataset.close()


def check_geotiff(path: Path, shown: str) -> None:
    """Only GeoTIFF (COG included) is opened: GDAL would read a VRT or other formats that name
    other files of the machine, whatever the file is called (see untrusted.py)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except FileNotFoundError:
        raise InputError(f"{shown}: raster not found / không có tệp raster") from None
    except IsADirectoryError:
        raise InputError(f"{shown}: is a folder, not a GeoTIFF / là thư mục, không phải GeoTIFF") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot read the raster ({exc.strerror}) / không đọc được raster") from None
    if head not in _TIFF_MAGIC:
        raise InputError(
            f"{shown}: not a GeoTIFF (no TIFF header): only GeoTIFF/COG rasters are read; convert it"
            " with gdal_translate -of COG / raster phải là GeoTIFF"
        )


def open_raster(layer: HazardLayer, where: str = "") -> Raster:
    """Open one hazard raster (GeoTIFF only), with its CRS, band and no-data value checked."""
    import rasterio

    shown = f"{where}{layer.written}"
    check_geotiff(layer.path, shown)
    try:
        with rasterio.Env(
            GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
            CPL_VSIL_CURL_ALLOWED_EXTENSIONS="none",
            GDAL_HTTP_PROXY="kgspatial-no-network://0",
            GDAL_CACHEMAX=GDAL_CACHE_MB,
        ):
            ds = rasterio.open(layer.path, driver="GTiff")
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(
            f"{shown}: not a readable GeoTIFF ({' '.join(str(exc).split())}) / không đọc được raster"
        ) from None
    if layer.band > ds.count:
        ds.close()
        raise InputError(
            f"{shown}: no band {layer.band} (the raster has {ds.count}) / raster không có băng {layer.band}"
        )
    if ds.crs:
        crs, source = crs_mod.recognise(ds.crs.to_wkt()), "file"
    elif layer.assume_crs:
        crs, source = crs_mod.recognise(layer.assume_crs), "assumed"
    else:
        ds.close()
        raise CRSError(
            f"{shown}: the raster has no coordinate reference system; give one with assume_crs in the"
            " hazards file / raster không có hệ tọa độ"
        )
    t = ds.transform
    if t.b != 0 or t.d != 0:
        ds.close()
        raise InputError(
            f"{shown}: a rotated raster grid is not supported; warp it north-up first (gdalwarp) / lưới raster bị xoay"
        )
    from rasterio.enums import MaskFlags

    nodata = ds.nodatavals[layer.band - 1]
    flags = ds.mask_flag_enums[layer.band - 1]
    return Raster(
        layer=layer,
        dataset=ds,
        crs=crs,
        crs_source=source,
        nodata=None if nodata is None else float(nodata),
        scale=float(ds.scales[layer.band - 1]),
        offset=float(ds.offsets[layer.band - 1]),
        mask_band=MaskFlags.per_dataset in flags or MaskFlags.alpha in flags,
    )


def read_values(raster: Raster, window, out_shape=None) -> np.ndarray:
    """A window's values in the raster's units, float64, NaN where there is no data: the no-data
    value, non-finite values and the mask band all tested on the raw values, then scale and
    offset applied.  The one reader of the screening, the points and the map, so they agree."""
    from rasterio.enums import Resampling

    ds, band = raster.dataset, raster.layer.band
    kw = (
        {"window": window}
        if out_shape is None
        else {"window": window, "out_shape": out_shape, "resampling": Resampling.nearest}
    )
    raw = ds.read(band, **kw)
    bad = np.zeros(raw.shape, bool) if np.issubdtype(raw.dtype, np.integer) else ~np.isfinite(raw)
    if raster.nodata is not None and not math.isnan(raster.nodata):
        bad |= raw == raster.nodata
    if raster.mask_band:
        bad |= ds.read_masks(band, **kw) == 0
    values = raw.astype(np.float64)
    if raster.scale != 1.0 or raster.offset != 0.0:
        values = values * raster.scale + raster.offset
    values[bad] = np.nan
    return values


# ----------------------------------------------------------------------------------------- screening


@dataclass
class Findings:
    """Pieces of one plan × one hazard, as parallel arrays (`part` indexes the plan's parts)."""

    part: np.ndarray
    rule: np.ndarray  # index into config.rules; -1 for the unknown part
    geoms: np.ndarray
    size: np.ndarray  # m² (polygons), m (lines), 1 (points)
    max_depth: np.ndarray
    mean_depth: np.ndarray
    unknown: np.ndarray  # per part: m² (polygons) or m (lines) off data; points 1 when unknown

    @staticmethod
    def empty(n_parts: int) -> "Findings":
        return Findings(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, object),
            np.empty(0),
            np.empty(0),
            np.empty(0),
            np.zeros(n_parts),
        )


def _depths(values: np.ndarray, layer: HazardLayer) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return layer.level - values if layer.measure == "elevation" else values


def _classify(depth: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Band index per depth: j when thresholds[j] < depth <= thresholds[j+1]; -1 at or below the lowest."""
    return np.searchsorted(thresholds, depth, side="left") - 1


def plan_overlaps(raster: Raster, geoms: np.ndarray, analysis_crs) -> bool:
    """Whether any part of the plan's extent lies on the raster's extent."""
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    box = shapely.segmentize(shapely.box(x0 - 1, y0 - 1, x1 + 1, y1 + 1), max(1.0, _span(geoms) / 16))
    there = crs_mod.transform_geometries(np.array([box], dtype=object), analysis_crs, raster.crs)[0]
    return bool(shapely.intersects(there, shapely.box(*raster.dataset.bounds)))


def _span(geoms: np.ndarray) -> float:
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return max(x1 - x0, y1 - y0)


def screen(
    raster: Raster, geoms: np.ndarray, kinds: np.ndarray, code_index: np.ndarray, config: HazardConfig, analysis_crs
) -> Findings:
    """The exposed pieces of each part (geoms, analysis CRS) in each band of one hazard."""
    import rasterio

    # One GDAL environment for the many window reads (each read would set one up), its block cache
    # bounded: GDAL's default (5 % of RAM) held 1.2 GB of decoded tiles for 10,000 scattered features.
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _screen(raster, geoms, kinds, code_index, config, analysis_crs)


def _screen(
    raster: Raster, geoms: np.ndarray, kinds: np.ndarray, code_index: np.ndarray, config: HazardConfig, analysis_crs
) -> Findings:
    layer = raster.layer
    table = config.bands.per_hazard[layer.id]
    n = len(geoms)
    same = crs_mod.recognise(analysis_crs) == raster.crs
    there = geoms if same else crs_mod.transform_geometries(geoms, analysis_crs, raster.crs)
    out: list[tuple] = []
    unknown = np.zeros(n)

    ext = kinds != POINT
    screened = np.array([len(table[c][0]) > 0 for c in code_index], dtype=bool)  # a rule of this hazard
    part, sub_geom, sub_there = _tiles(raster, geoms, there, kinds, np.nonzero(ext & screened)[0], same, analysis_crs)
    split = np.bincount(part, minlength=n) > 1 if len(part) else np.zeros(n, bool)
    sub_size = measure(sub_geom, kinds[part]) if len(part) else np.empty(0)
    order = _tile_order(raster, sub_there, np.arange(len(part)))
    bounds = raster.dataset.bounds
    for chunk in _chunks(raster, sub_there, order):
        cells = _cells(raster, sub_there[chunk])
        for j, s in enumerate(chunk):
            i, geom, here = part[s], sub_geom[s], sub_there[s]
            thresholds, rule_ids = table[code_index[i]]
            values, cover, off_data = cells[j]
            depth = _depths(values, layer)
            band = _classify(depth, thresholds)
            # Complete when no touched cell lacks data and the part lies within the raster: no
            # tolerance, so no no-data cell is ever taken for a safe one.
            x0, y0, x1, y1 = shapely.bounds(here)
            complete = (
                off_data == 0
                and len(cover) > 0
                and x0 >= bounds.left
                and x1 <= bounds.right
                and y0 >= bounds.bottom
                and y1 <= bounds.top
            )
            present = np.unique(band[cover > 0])
            reported = [b for b in present if b >= 0 and config.rules[rule_ids[b]].verdict != "compatible"]
            if complete and len(present) == 1:
                if reported:  # the whole part in one band: the part is its piece
                    b = reported[0]
                    out.append((i, int(rule_ids[b]), geom, sub_size[s], *_stats(depth, cover, band == b)))
                continue
            if not reported and complete:
                continue
            pieces, rest = _cut(raster, geom, here, kinds[i], thresholds, analysis_crs, same)
            for b, piece in pieces.items():
                if b < 0 or config.rules[rule_ids[b]].verdict == "compatible":
                    continue
                size = float(measure(np.array([piece]), kinds[i : i + 1])[0])
                if size > NOISE:
                    out.append((i, int(rule_ids[b]), piece, size, *_stats(depth, cover, band == b)))
            if rest is not None:
                size = float(measure(np.array([rest]), kinds[i : i + 1])[0])
                if size > NOISE:
                    unknown[i] += size
                    out.append((i, -1, rest, size, math.nan, math.nan))
    if split.any():
        out = _merge(out, split, kinds)
    for i in np.nonzero(~ext)[0]:
        thresholds, rule_ids = table[code_index[i]]
        if not len(thresholds):
            continue
        value = _point_depth(raster, there[i])
        if value is None:
            unknown[i] = 1.0
            out.append((i, -1, geoms[i], 1.0, math.nan, math.nan))
            continue
        b = int(_classify(np.array([value]), thresholds)[0])
        if b >= 0 and config.rules[rule_ids[b]].verdict != "compatible":
            out.append((i, int(rule_ids[b]), geoms[i], 1.0, value, value))
    if not out:
        return Findings.empty(n) if not unknown.any() else dataclasses.replace(Findings.empty(n), unknown=unknown)
    out.sort(key=lambda row: (row[0], row[1]))  # feature order, whatever order the tiles were read in
    part, rule, pieces, size, mx, mean = zip(*out)
    return Findings(
        np.array(part, np.int64),
        np.array(rule, np.int64),
        np.array(pieces, dtype=object),
        np.array(size, float),
        np.array(mx, float),
        np.array(mean, float),
        unknown,
    )


def _tile_order(raster: Raster, geoms: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """`idx` sorted by the raster tile their top-left corner falls in: features sharing tiles are
    screened one after the other, so each tile is decoded about once (the cache holds the rest)."""
    if len(idx) < 2:
        return idx
    t = raster.dataset.transform
    bh, bw = raster.dataset.block_shapes[raster.layer.band - 1]
    b = shapely.bounds(geoms[idx])
    col = np.floor((b[:, 0] - t.c) / t.a / bw)
    row = np.floor((b[:, 3] - t.f) / t.e / bh)
    return idx[np.lexsort((col, row))]


def _tiles(
    raster: Raster, geoms: np.ndarray, there: np.ndarray, kinds: np.ndarray, idx: np.ndarray, same: bool, analysis_crs
):
    """The parts `idx` as (part, geom, there) pieces, each over at most TILE_CELLS cells: a part
    whose window is larger is cut by a grid of TILE x TILE cells aligned on the raster's (cell
    edges, so no cell is shared) and screened tile by tile.  Memory stays bounded whatever the
    raster's resolution (a 6 KB sparse GeoTIFF of 12,000² cells took 5.9 GB before) and a
    province-wide 10 m DEM still screens a province-wide zone."""
    t = raster.dataset.transform
    b = shapely.bounds(there[idx]) if len(idx) else np.empty((0, 4))
    big = (np.abs(b[:, 2] - b[:, 0]) / abs(t.a) + 2) * (np.abs(b[:, 3] - b[:, 1]) / abs(t.e) + 2) > TILE_CELLS
    if not big.any():  # the usual case: every part is its own piece
        return idx, geoms[idx], there[idx]
    parts, gs, ts = [], [], []
    for i, large in zip(idx, big):
        if not large:
            parts.append(i), gs.append(geoms[i]), ts.append(there[i])
            continue
        x0, y0, x1, y1 = shapely.bounds(there[i])
        cols = sorted(((x0 - t.c) / t.a, (x1 - t.c) / t.a))
        rows = sorted(((y0 - t.f) / t.e, (y1 - t.f) / t.e))
        c = np.arange(math.floor(cols[0] / TILE), math.floor(cols[1] / TILE) + 1) * TILE
        r = np.arange(math.floor(rows[0] / TILE), math.floor(rows[1] / TILE) + 1) * TILE
        cc, rr = np.meshgrid(c, r)
        cc, rr = cc.ravel(), rr.ravel()
        xa, xb = sorted((t.c + cc * t.a, t.c + (cc + TILE) * t.a), key=lambda v: v[0])
        ya, yb = sorted((t.f + rr * t.e, t.f + (rr + TILE) * t.e), key=lambda v: v[0])
        boxes = shapely.box(xa, ya, xb, yb)
        boxes = boxes[shapely.intersects(boxes, there[i])]
        kinds_ = np.full(len(boxes), kinds[i])
        here = keep_kind(shapely.intersection(there[i], boxes), kinds_)
        if same:
            mine = here
        else:
            step = min(abs(t.a), abs(t.e))
            moved = crs_mod.transform_geometries(shapely.segmentize(boxes, step), raster.crs, analysis_crs)
            mine = keep_kind(shapely.intersection(geoms[i], moved), kinds_)
        if kinds_[0] == LINE:  # a line along a tile edge lies in both tiles: the first keeps it
            taken = None
            for k in range(len(here)):
                if taken is not None and here[k] is not None:
                    here[k] = shapely.difference(here[k], taken)
                if here[k] is not None:
                    taken = here[k] if taken is None else shapely.union(taken, here[k])
        for g, h in zip(mine, here):
            if g is not None and h is not None and not shapely.is_empty(g) and not shapely.is_empty(h):
                parts.append(i), gs.append(g), ts.append(h)
    return np.array(parts, np.int64), np.array(gs, dtype=object), np.array(ts, dtype=object)


def _chunks(raster: Raster, there: np.ndarray, order: np.ndarray):
    """`order` in runs whose windows add up to about TILE_CELLS cells: exactextract's values and
    coverage for a run are held at once, so a run is bounded as a tile is."""
    if not len(order):
        return
    t = raster.dataset.transform
    b = shapely.bounds(there[order])
    cells = (np.abs(b[:, 2] - b[:, 0]) / abs(t.a) + 2) * (np.abs(b[:, 3] - b[:, 1]) / abs(t.e) + 2)
    start, total = 0, 0.0
    for k, c in enumerate(cells):
        if total and total + c > TILE_CELLS:
            yield order[start:k]
            start, total = k, 0.0
        total += c
    yield order[start:]


def _merge(out: list[tuple], split: np.ndarray, kinds: np.ndarray) -> list[tuple]:
    """One row per part and band again for the parts screened tile by tile: pieces unioned,
    sizes added, the deepest max, the mean weighted by size."""
    keep = [row for row in out if not split[row[0]]]
    groups: dict[tuple, list] = {}
    for row in out:
        if split[row[0]]:
            groups.setdefault((row[0], row[1]), []).append(row)
    for (i, rule), rows in groups.items():
        piece = rows[0][2] if len(rows) == 1 else shapely.union_all(np.array([r[2] for r in rows], dtype=object))
        if kinds[i] == LINE and len(rows) > 1:
            piece = shapely.line_merge(piece) if piece.geom_type == "MultiLineString" else piece
        size = sum(r[3] for r in rows)
        depths = [(r[3], r[4], r[5]) for r in rows if not math.isnan(r[5])]
        mx = max((d[1] for d in depths), default=math.nan)
        mean = sum(d[0] * d[2] for d in depths) / sum(d[0] for d in depths) if depths else math.nan
        keep.append((i, rule, piece, size, mx, mean))
    return keep


def _stats(depth: np.ndarray, cover: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Max and coverage-weighted mean depth of the cells of one band (weights: cell fraction
    inside a polygon, length inside the cell for a line)."""
    keep = mask & (cover > 0)
    if not keep.any():
        return math.nan, math.nan
    w = cover[keep]
    return float(depth[keep].max()), float((depth[keep] * w).sum() / w.sum())


def _cells(raster: Raster, geoms: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Per feature (raster CRS): the values and coverage of every data cell it touches, and the
    coverage of the no-data cells it touches, read by exactextract one feature window at a time
    (a province-wide raster is never read whole)."""
    import json

    from exactextract import exact_extract
    from exactextract.feature import JSONFeatureSource

    features = [
        {"type": "Feature", "properties": {"k": k}, "geometry": json.loads(g)}
        for k, g in enumerate(shapely.to_geojson(_with_width(raster, geoms)))
    ]
    rows = exact_extract(
        _PlainSource(raster),
        JSONFeatureSource(features, srs_wkt=raster.crs.to_wkt()),
        ["values", "coverage"],
        include_cols=["k"],
        output="pandas",
        strategy=STRATEGY,
        max_cells_in_memory=4_000_000,
    )
    out: list[tuple[np.ndarray, np.ndarray, float]] = [(np.empty(0), np.empty(0), 0.0)] * len(geoms)
    for k, values, cover in zip(rows["k"].to_numpy(), rows["values"], rows["coverage"]):
        values = np.asarray(values, dtype=float)
        cover = np.asarray(cover, dtype=float)
        ok = values != NO_DATA
        out[int(k)] = (values[ok], cover[ok], float(cover[~ok].sum()))
    return out


def _with_width(raster: Raster, geoms: np.ndarray) -> np.ndarray:
    """Lines whose box has no width or height (straight N-S or E-W) with one vertex moved by a
    millionth of a cell across: exactextract (0.3.0) finds no cell at all for a box without area.
    The length changes by under 1e-12 of a cell; the cells crossed stay the same (on a cell edge,
    the line is read from the cells east of it or south of it)."""
    b = shapely.bounds(geoms)
    flat_x, flat_y = b[:, 2] == b[:, 0], b[:, 3] == b[:, 1]
    lines = np.isin(shapely.get_type_id(geoms), (1, 5))
    todo = np.nonzero(lines & (flat_x ^ flat_y))[0]
    if not len(todo):
        return geoms
    geoms = geoms.copy()
    t = raster.dataset.transform
    for i in todo:
        parts = list(shapely.get_parts(geoms[i]))
        xy = shapely.get_coordinates(parts[0])
        mid = (xy[0] + xy[1]) / 2 + ((abs(t.a) * 1e-6, 0.0) if flat_x[i] else (0.0, -abs(t.e) * 1e-6))
        parts[0] = shapely.LineString(np.vstack([xy[:1], [mid], xy[1:]]))
        geoms[i] = parts[0] if shapely.get_type_id(geoms[i]) == 1 else shapely.MultiLineString(parts)
    return geoms


def _plain_source_class():
    from exactextract.raster import RasterioRasterSource

    class PlainSource(RasterioRasterSource):
        """Hands exactextract plain float64 windows from `read_values`, no-data cells as NO_DATA
        (a finite flag exactextract keeps, so `_cells` sees how much of a feature lies on them;
        a masked read per feature cost a third of the screening, measured on 10,000 features)."""

        def __init__(self, raster):
            super().__init__(raster.dataset, raster.layer.band)
            self.raster = raster
            self.isfloat = True

        def nodata_value(self):
            return None

        def read_window(self, x0, y0, nx, ny):
            from rasterio.windows import Window

            values = read_values(self.raster, Window(x0, y0, nx, ny))
            values[np.isnan(values)] = NO_DATA
            return values

    return PlainSource


def _PlainSource(raster):  # noqa: N802  (a class made on first use: exactextract is imported lazily)
    global _PLAIN
    if _PLAIN is None:
        _PLAIN = _plain_source_class()
    return _PLAIN(raster)


_PLAIN = None


def _window(raster: Raster, bounds) -> Any:
    from rasterio.windows import Window

    ds = raster.dataset
    t = ds.transform  # north-up (open_raster refuses rotation): one cell of margin each side
    cols = sorted(((bounds[0] - t.c) / t.a, (bounds[2] - t.c) / t.a))
    rows = sorted(((bounds[1] - t.f) / t.e, (bounds[3] - t.f) / t.e))
    col0, row0 = max(0, math.floor(cols[0]) - 1), max(0, math.floor(rows[0]) - 1)
    col1, row1 = min(ds.width, math.ceil(cols[1]) + 1), min(ds.height, math.ceil(rows[1]) + 1)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _read(raster: Raster, window) -> np.ma.MaskedArray:
    return np.ma.masked_invalid(read_values(raster, window), copy=False)


def _cut(raster: Raster, geom, there, kind: int, thresholds, analysis_crs, same: bool):
    """Cut one feature by the cells of its window: {band: piece} and the part off data (or None)."""
    from rasterio.features import shapes
    from rasterio.windows import transform as window_transform

    window = _window(raster, shapely.bounds(there))
    if window is None:
        return {}, geom
    data = _read(raster, window)
    depth = _depths(data.filled(np.nan), raster.layer)
    classes = _classify(depth, thresholds).astype(np.int32)
    valid = ~np.ma.getmaskarray(data)
    classes = np.where(valid, classes + 2, 0).astype(np.int32)  # 0 no data, 1 below every band, 2.. bands
    polys: dict[int, list] = {}
    for shape, value in shapes(
        classes, mask=valid, transform=window_transform(window, raster.dataset.transform), connectivity=4
    ):
        polys.setdefault(int(value), []).append(shapely.geometry.shape(shape))
    regions = {v: shapely.coverage_union_all(np.array(p, dtype=object)) for v, p in polys.items()}
    if not same:
        step = min(abs(raster.dataset.transform.a), abs(raster.dataset.transform.e))
        keys = list(regions)
        moved = crs_mod.transform_geometries(
            shapely.segmentize(np.array([regions[k] for k in keys], dtype=object), step), raster.crs, analysis_crs
        )
        regions = {k: shapely.make_valid(g) if not shapely.is_valid(g) else g for k, g in zip(keys, moved)}
    kinds = np.array([kind])
    out = {}
    taken = None  # a line along the edge of two bands lies in both regions: the deeper one keeps it
    for value in sorted(regions, reverse=True):
        piece = keep_kind(np.array([shapely.intersection(geom, regions[value])], dtype=object), kinds)[0]
        if kind == LINE and piece is not None and taken is not None:
            piece = keep_kind(np.array([shapely.difference(piece, taken)], dtype=object), kinds)[0]
        if piece is not None and not shapely.is_empty(piece):
            out[value - 2] = piece
            taken = piece if taken is None else shapely.union(taken, piece)
    data_region = shapely.union_all(np.array(list(regions.values()), dtype=object)) if regions else None
    rest = (
        geom
        if data_region is None
        else keep_kind(np.array([shapely.difference(geom, data_region)], dtype=object), kinds)[0]
    )
    if rest is not None and shapely.is_empty(rest):
        rest = None
    return out, rest


def _point_depth(raster: Raster, point) -> float | None:
    """The depth of a point's cell; on a cell edge or corner, the deepest of the cells it touches
    (screening errs toward the hazard).  None when no touching cell has data."""
    from rasterio.windows import Window

    ds = raster.dataset
    t = ds.transform
    col_f, row_f = (point.x - t.c) / t.a, (point.y - t.f) / t.e
    cols = [math.floor(col_f)] + ([int(col_f) - 1] if float(col_f).is_integer() else [])
    rows = [math.floor(row_f)] + ([int(row_f) - 1] if float(row_f).is_integer() else [])
    values = []
    for r in rows:
        for c in cols:
            if 0 <= r < ds.height and 0 <= c < ds.width:
                v = _read(raster, Window(c, r, 1, 1))
                if not np.ma.getmaskarray(v)[0, 0]:
                    values.append(float(v[0, 0]))
    if not values:
        return None
    return float(_depths(np.array(values), raster.layer).max())


# ----------------------------------------------------------------------------------------- results


@dataclass
class HazardResult:
    findings: gpd.GeoDataFrame  # the hazards layer (HAZARD_COLUMNS + admin columns), analysis CRS
    summary: dict  # summary.json["hazards"]
    config: HazardConfig | None = None
    layers: list[dict] = field(default_factory=list)  # Raster.info per hazard

    @property
    def exit_code(self) -> int:
        return 1 if (self.findings["verdict"] == "conflict").any() else 0


def screen_plan(
    config: HazardConfig,
    rasters: list[Raster],
    plan: PreparedLayer,
    plan_id: str,
    parts: PreparedLayer,
    src: np.ndarray,
    ordinal: np.ndarray,
    unit_columns: dict,
    analysis_crs,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The hazards rows of one plan (already split by communes into `parts`)."""
    from .check import conflict_ids

    warnings: list[str] = []
    code_index = np.array([config.bands.index(c) for c in parts.codes], dtype=np.int64)
    full = measure(plan.geoms, plan.kinds)
    frames = []
    for raster in rasters:
        if len(parts) and not plan_overlaps(raster, parts.geoms, analysis_crs):
            raise InputError(
                f"{raster.layer.written}: the raster ({crs_mod.crs_label(raster.crs)}) does not overlap plan {plan_id}:"
                " nothing could be screened; is its CRS right? / raster không trùng phạm vi quy hoạch"
            )
        found = screen(raster, parts.geoms, parts.kinds, code_index, config, analysis_crs)
        p = found.part
        plan_idx = src[p]
        kinds = parts.kinds[p]
        rules = config.rules

        def rule_attr(name, blank=""):
            return np.array([getattr(rules[r], name) if r >= 0 else blank for r in found.rule], dtype=object)

        unknown_part = found.unknown[p]
        n = len(p)
        rows = {
            "plan_id": np.full(n, plan_id, dtype=object),
            "plan_feature": plan.feature_ids[plan_idx],
            "plan_code": np.array(
                [c if c else r for c, r in zip(plan.codes[plan_idx], plan.raw_codes[plan_idx])], dtype=object
            ),
            "plan_label": plan.labels[plan_idx],
            "hazard_id": np.full(n, raster.layer.id, dtype=object),
            "rule_id": rule_attr("rule_id"),
            "min_depth": np.array([rules[r].min_depth if r >= 0 else math.nan for r in found.rule], dtype=float),
            "verdict": np.where(found.rule >= 0, rule_attr("verdict"), UNKNOWN).astype(object),
            "severity": rule_attr("severity"),
            "reference": rule_attr("reference"),
            "kind": np.array(KIND_NAMES, dtype=object)[kinds] if n else np.empty(0, object),
            "area_m2": np.where(kinds == POLYGON, found.size, 0.0),
            "length_m": np.where(kinds == LINE, found.size, 0.0),
            "share": np.where(kinds == POINT, 1.0, found.size / np.where(full[plan_idx] > 0, full[plan_idx], 1.0)),
            "max_depth": found.max_depth,
            "mean_depth": found.mean_depth,
            "unknown_m2": np.where(kinds == POLYGON, unknown_part, 0.0),
            "unknown_m": np.where(kinds == LINE, unknown_part, 0.0),
        }
        for column, values in unit_columns.items():
            rows[column] = values[p]
        rows["finding_id"] = conflict_ids(
            plan_id,
            plan_idx,
            np.full(n, raster.layer.id, dtype=object),
            rows["rule_id"],
            rows.get("admin_code"),
            rows.get("admin_prev_code"),
            ordinal[p],
        )
        frames.append(
            gpd.GeoDataFrame(
                {c: pd.Series(rows[c]) for c in HAZARD_COLUMNS + list(unit_columns)},
                geometry=gpd.GeoSeries(found.geoms, crs=analysis_crs),
            )
        )
        bad = found.unknown > 0
        if bad.any():
            k = parts.kinds[bad]
            warnings.append(
                f"{plan_id}: {raster.layer.id}: {int(bad.sum())} feature part(s) lie partly on cells with no data or off"
                f" {raster.layer.written} ({_fmt(found.unknown[bad][k == POLYGON].sum())} m²,"
                f" {_fmt(found.unknown[bad][k == LINE].sum())} m, {int((k == POINT).sum())} point(s)): unknown, not safe"
                " / một phần quy hoạch nằm trên ô không có dữ liệu: chưa rõ, không coi là an toàn"
            )
    frame = pd.concat(frames, ignore_index=True) if frames else None
    if frame is None or not len(frame):
        frame = empty_findings(analysis_crs, list(unit_columns))
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=analysis_crs), warnings


def empty_findings(crs, extra: list[str] = ()) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {c: pd.Series([], dtype=float if c in _NUMERIC else object) for c in HAZARD_COLUMNS + list(extra)},
        geometry=gpd.GeoSeries([], crs=crs),
    )


_NUMERIC = {"min_depth", "area_m2", "length_m", "share", "max_depth", "mean_depth", "unknown_m2", "unknown_m"}


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:,.2f}"


def hazards_summary(config: HazardConfig, layers: list[dict], findings: gpd.GeoDataFrame, warnings: list[str]) -> dict:
    """summary.json["hazards"]: per hazard and band (rule), area, length and points by plan code
    and by commune (new and pre-2025 units), and the unknown part."""
    frame = pd.DataFrame({c: findings[c] for c in findings.columns if c != "geometry"})
    out = []
    for info in layers:
        hid = info["id"]
        sub = frame[frame["hazard_id"] == hid]
        banded = sub[sub["verdict"] != UNKNOWN]
        unknown = sub[sub["verdict"] == UNKNOWN]
        bands = []
        for rule in config.rules:
            if rule.hazard_id != hid:
                continue
            rows = banded[banded["rule_id"] == rule.rule_id]
            if rows.empty:
                continue
            total = _group(rows.assign(all=""), ["all"])[0]
            total.pop("all")
            bands.append(
                {
                    "rule_id": rule.rule_id,
                    "plan_code": rule.plan_code,
                    "min_depth": rule.min_depth,
                    "verdict": rule.verdict,
                    "severity": rule.severity,
                    "reference": rule.reference,
                    "note": rule.note,
                    **total,
                    "by_plan_code": _group(rows, ["plan_code"]),
                    "by_plan": _group(rows, ["plan_id"]),
                    "by_admin": _group(rows, ["admin_code", "admin_name"]) if "admin_code" in rows else [],
                    "by_admin_previous": _group(rows, ["admin_prev_code", "admin_prev_name"])
                    if "admin_prev_code" in rows
                    else [],
                }
            )
        out.append(
            {
                **info,
                "bands": bands,
                "unknown_m2": round(float(unknown["area_m2"].sum()), 3),
                "unknown_m": round(float(unknown["length_m"].sum()), 3),
                "unknown_points": int((unknown["kind"] == "point").sum()),
            }
        )
    conflict = frame[frame["verdict"] == "conflict"]
    return {
        "config": config.written,
        "rules": {"path": str(config.rules_path.name), "sha256": config.rules_sha256, "count": len(config.rules)},
        "layers": out,
        "totals": {
            "rows": int(len(frame)),
            "conflict_pieces": int(len(conflict)),
            "conflict_area_m2": round(float(conflict["area_m2"].sum()), 3),
            "conflict_length_m": round(float(conflict["length_m"].sum()), 3),
            "conflict_points": int((conflict["kind"] == "point").sum()),
            "conditional_pieces": int((frame["verdict"] == "conditional").sum()),
            "unknown_m2": round(float(frame.loc[frame["verdict"] == UNKNOWN, "area_m2"].sum()), 3),
            "unknown_m": round(float(frame.loc[frame["verdict"] == UNKNOWN, "length_m"].sum()), 3),
        },
        "warnings": warnings,
    }


class Screening:
    """What a run shares across its plans: the config and the opened rasters."""

    def __init__(self, config: HazardConfig, analysis_crs):
        self.config = config
        self.analysis_crs = analysis_crs
        self.rasters: list[Raster] = []
        try:
            for h in config.layers:
                self.rasters.append(open_raster(h))
        except BaseException:
            self.close()
            raise
        self.layers = [r.info(analysis_crs) for r in self.rasters]

    def close(self) -> None:
        for r in self.rasters:
            r.close()

    def __enter__(self) -> "Screening":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def plan(
        self, plan: PreparedLayer, plan_id: str, units_list: list, jobs: int = 1
    ) -> tuple[gpd.GeoDataFrame, list[str]]:
        from .check import split_plan

        parts, src, ordinal, columns = split_plan(plan, units_list, jobs)
        return screen_plan(self.config, self.rasters, plan, plan_id, parts, src, ordinal, columns, self.analysis_crs)

    def result(self, frames: list[gpd.GeoDataFrame], warnings: list[str]) -> HazardResult:
        frames = [f for f in frames if len(f)]
        findings = (
            gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=self.analysis_crs)
            if frames
            else empty_findings(self.analysis_crs)
        )
        return HazardResult(
            findings=findings,
            summary=hazards_summary(self.config, self.layers, findings, warnings),
            config=self.config,
            layers=self.layers,
        )


# ----------------------------------------------------------------------------------------- the command


@dataclass
class HazardOptions:
    """`kgspatial hazards` (CONTRACT §8): plans screened against HAZARDS.yaml, no master plan."""

    plans: list  # check.PlanInput
    hazards: str
    admin: Any = None  # check.AdminInput
    admin_previous: Any = None
    analysis_crs: str | None = None
    assume_crs: str | None = None
    engine: str = "pyogrio"
    profile: str = "kien-giang"
    jobs: int = 1


@dataclass
class HazardRun:
    result: HazardResult
    summary: dict  # the whole summary.json of `kgspatial hazards`
    plans: list[PreparedLayer]
    taxonomy: Taxonomy
    admin: Any = None


def run_hazards(opts: HazardOptions, progress=lambda _: None) -> HazardRun:
    import datetime as dt

    from . import __version__
    from .check import CheckOptions, _read_admin, _with_distinct_ids
    from .io import read_layer
    from .prepare import dropped_notes, field_selector, prepare_layer
    from .profile import load_profile

    if not opts.plans:
        raise InputError("no plan given: use --plan PATH")
    profile = load_profile(opts.profile)
    taxonomy = profile.load_taxonomy()
    analysis_crs = crs_mod.recognise(opts.analysis_crs or profile.analysis_crs)
    if analysis_crs.is_geographic:
        raise InputError(f"analysis CRS {crs_mod.crs_label(analysis_crs)} is geographic: areas need a projected CRS")
    config = load_hazards(opts.hazards, taxonomy, written=opts.hazards)
    specs = _with_distinct_ids(opts.plans)
    shim = CheckOptions(master="", plans=[], assume_crs=opts.assume_crs, engine=opts.engine)
    admin = _read_admin(opts.admin, shim, analysis_crs) if opts.admin else None
    admin_prev = _read_admin(opts.admin_previous, shim, analysis_crs) if opts.admin_previous else None
    units_list = [(u, p) for u, p in ((admin, "admin"), (admin_prev, "admin_prev")) if u is not None]
    frames, warnings, prepared = [], [], []
    with Screening(config, analysis_crs) as screening:
        for spec in specs:
            progress(f"đọc quy hoạch / reading plan {spec.path}")
            layer = read_layer(
                spec.path,
                engine=opts.engine,
                encoding=spec.encoding,
                assume_crs=spec.assume_crs or opts.assume_crs,
                select=field_selector(
                    spec.path,
                    "plan",
                    spec.code_field,
                    spec.label_field,
                    spec.id_field,
                    profile.code_fields,
                    profile.label_fields,
                ),
            )
            plan = prepare_layer(
                layer,
                taxonomy,
                analysis_crs,
                code_field=spec.code_field,
                label_field=spec.label_field,
                id_field=spec.id_field,
                code_candidates=profile.code_fields,
                label_candidates=profile.label_fields,
                role="plan",
                name=spec.plan_id,
                jobs=opts.jobs,
            )
            if len(plan) == 0:
                raise InputError(
                    f"{layer.path}: the plan has no feature with a geometry; nothing to screen"
                    " / quy hoạch không có đối tượng nào có hình học"
                )
            progress(f"sàng lọc ngập / screening {spec.plan_id} ({len(plan)} features)")
            frame, notes = screening.plan(plan, spec.plan_id, units_list, opts.jobs)
            frames.append(frame)
            warnings += layer.warnings + notes + [f"{spec.plan_id}: {n}" for n in dropped_notes(plan.info)]
            prepared.append(plan)
        result = screening.result(frames, warnings)
    for units in (admin, admin_prev):
        if units is not None:
            warnings += units.warnings
    summary = {
        "kgspatial_version": __version__,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "profile": profile.name,
        "analysis_crs": crs_mod.crs_label(analysis_crs),
        "transformations": sorted(
            {crs_mod.describe_transformation(p.source_crs, analysis_crs) for p in prepared}
            | {layer["transformation"] for layer in result.layers}
        ),
        "inputs": {
            "plans": [p.info for p in prepared],
            "admin": admin.info if admin else None,
            "admin_previous": admin_prev.info if admin_prev else None,
        },
        "hazards": result.summary,
        "warnings": warnings,
    }
    return HazardRun(result=result, summary=summary, plans=prepared, taxonomy=taxonomy, admin=admin)
