"""Priority investment projects (CONTRACT §9): siting, reservation, hazard band and schedule.

A project is a plan feature: its siting is the check of kgspatial.check (same engine, rules,
admin split) with plan_id `projects`, and its hazard band the screening of kgspatial.hazards.
Reservation asks each `in_force` plan of the register on its own whether it gives the project's
land the project's use; the schedule compares the phase and status with a date. Nothing here writes files except `write_projects_outputs`, into a
folder the caller stages.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import crs as crs_mod
from .check import Context, check_plan
from .engine import NOISE, intersect_pairs, keep_kind
from .errors import InputError, KgSpatialError, RulesError
from .io import Layer, read_layer, split_selector
from .prepare import KIND_NAMES, LINE, POINT, POLYGON, PreparedLayer, as_text, field_selector, find_field, prepare_layer
from .rules import UNREVIEWED, RulesTable
from .taxonomy import default_layers_dir

PLAN_ID = "projects"  # the plan_id of the projects' conflict rows (CONTRACT §9)
PROJECTS_LAYER = "projects"
VALUES_FILE = "project_values.csv"

# Phase -> first and last day. The provincial plan's period 2021-2030 is split in two five-year
# phases; 2031-2050 is its vision (Decision 1289/QĐ-TTg).
PHASES = {
    "2021-2025": (dt.date(2021, 1, 1), dt.date(2025, 12, 31)),
    "2026-2030": (dt.date(2026, 1, 1), dt.date(2030, 12, 31)),
    "2031-2050": (dt.date(2031, 1, 1), dt.date(2050, 12, 31)),
}
STATUSES = ("proposed", "preparing", "approved", "under_construction", "completed", "suspended", "cancelled")
FUNDINGS = ("public", "private", "ppp", "oda", "mixed")
SITINGS = ("conflict", "conditional", "unreviewed", "consistent", "outside_master")
SCHEDULES = ("overdue", "late_start", "on_track")
ALLOWED = {"phase": tuple(PHASES), "status": STATUSES, "funding": FUNDINGS}
LATE_START_YEARS = 2  # §9: still `proposed` over two years after its phase began

# Column names looked for when the registry does not name one (matched ignoring case).
DEFAULT_FIELDS = {
    "id": ["id", "ma_du_an", "ma_da", "madu_an"],
    "name": ["name", "ten_du_an", "ten_da", "ten"],
    "code": ["code"],  # then the profile's land-use code columns
    "sector": ["sector", "linh_vuc", "nganh"],
    "phase": ["phase", "giai_doan"],
    "status": ["status", "tinh_trang", "trang_thai"],
    "capital": ["capital", "von_dau_tu", "tong_von", "von"],
    "funding": ["funding", "nguon_von"],
}
REQUIRED = ("id", "code", "phase", "status")
LON_NAMES, LAT_NAMES = ("lon", "lng", "long", "longitude", "kinh_do"), ("lat", "latitude", "vi_do")
X_NAMES, Y_NAMES = ("x",), ("y",)


class ProjectsError(RulesError):
    """Bad values in the projects table or the value mapping: every one listed at once (exit 2)."""


# ----------------------------------------------------------------------------------------------
# Vocabulary: Vietnamese values beside the English ones of §9 (layers/project_values.csv)


def value_key(text: str) -> str:
    """How values are compared: NFC, case folded, dashes as '-', spaces squeezed (and none around
    '-'), a trailing full stop dropped."""
    text = unicodedata.normalize("NFC", str(text)).casefold().strip()
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = re.sub(r"\s*-\s*", "-", text)
    text = re.sub(r"\s+", " ", text).rstrip(".").strip()
    return text


def plain_key(text: str) -> str:
    """value_key without tone and vowel marks: 'huỷ' and 'hủy' (two tone placements) meet."""
    decomposed = unicodedata.normalize("NFD", value_key(text).replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class Vocabulary:
    exact: dict[str, dict[str, str]]  # field -> value_key -> canonical
    plain: dict[str, dict[str, str]]  # field -> plain_key -> canonical (only keys with one meaning)
    examples: dict[str, list[str]]  # field -> Vietnamese values, for messages

    def canonical(self, what: str, raw) -> str | None:
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            return None
        text = as_text(raw)
        return self.exact[what].get(value_key(text)) or self.plain[what].get(plain_key(text))


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """Read the value mapping; ProjectsError lists every bad row."""
    path = Path(path) if path is not None else default_layers_dir() / VALUES_FILE
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectsError([f"cannot read ({exc})"], source=str(path)) from None
    problems = []
    exact: dict[str, dict[str, str]] = {k: {} for k in ALLOWED}
    plain: dict[str, dict[str, set]] = {k: {} for k in ALLOWED}
    examples: dict[str, list[str]] = {k: [] for k in ALLOWED}
    for line, row in enumerate(rows, start=2):
        what, value, canonical = ((row.get(k) or "").strip() for k in ("field", "value", "canonical"))
        if what not in ALLOWED:
            problems.append(f"row {line}, field: {what!r} is not one of {', '.join(ALLOWED)}")
            continue
        if canonical not in ALLOWED[what]:
            problems.append(f"row {line}, canonical: {canonical!r} is not a {what} ({', '.join(ALLOWED[what])})")
            continue
        if not value:
            problems.append(f"row {line}, value: empty")
            continue
        key = value_key(value)
        if exact[what].get(key, canonical) != canonical:
            problems.append(f"row {line}: {value!r} already means {exact[what][key]}")
        exact[what][key] = canonical
        plain[what].setdefault(plain_key(value), set()).add(canonical)
        if not value.isascii() and len(examples[what]) < 4:
            examples[what].append(value)
    for what, allowed in ALLOWED.items():
        for value in allowed:
            exact[what].setdefault(value_key(value), value)
            plain[what].setdefault(plain_key(value), set()).add(value)
    if problems:
        raise ProjectsError(problems, source=str(path))
    return Vocabulary(
        exact, {w: {k: next(iter(v)) for k, v in d.items() if len(v) == 1} for w, d in plain.items()}, examples
    )


# ----------------------------------------------------------------------------------------------
# Reading: a layer (points, lines, polygons) or a CSV with lon/lat or x/y


@dataclass
class ProjectTable:
    """The projects as validated: one entry per feature of `layer` (same order)."""

    layer: PreparedLayer  # geometry in the analysis CRS, canonical codes, names as labels, ids
    names: list[str]
    sectors: list[str]
    phases: list[str]
    statuses: list[str]
    capital: list[float | None]
    funding: list[str | None]
    fields: dict[str, str | None]  # which column held what
    warnings: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [str(v) for v in self.layer.feature_ids]


def parse_number(raw) -> float | None:
    """A number as spreadsheets in Vietnam write it: '1.250,5' or '1,250.5' or '1250,5'.

    Both separators: the last is the decimal one. One kind repeated ('1.250.000'): thousands. One
    alone: the decimal separator (a Vietnamese comma or a point). Empty: None. ValueError else."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    text = str(raw).strip().replace("\u00a0", "").replace(" ", "")
    if not text:
        return None
    if "," in text and "." in text:
        decimal = "," if text.rfind(",") > text.rfind(".") else "."
        text = text.replace("." if decimal == "," else ",", "").replace(decimal, ".")
    elif text.count(",") > 1 or text.count(".") > 1:
        text = text.replace(",", "").replace(".", "")
    else:
        text = text.replace(",", ".")
    value = float(text)  # ValueError for anything else
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _columns(names: list[str], entry, profile, path: str) -> tuple[dict[str, str | None], list[str]]:
    """Column per key: the registry's mapping, else a usual name; problems for the missing ones."""
    problems, chosen = [], {}
    taken: set[str] = set()
    for key, defaults in DEFAULT_FIELDS.items():
        wanted = getattr(entry, f"{key}_field", None)
        candidates = [c for c in defaults + (list(profile.code_fields) if key == "code" else []) if c not in taken]
        try:
            column = find_field(names, wanted, candidates, key, path)
        except InputError:
            problems.append(f"projects.{key}_field: no column {wanted!r} (columns: {', '.join(names)})")
            column = None
        if column is None and wanted is None and key in REQUIRED:
            problems.append(
                f"no column for the project's {key}: name it with projects.{key}_field"
                f" (columns: {', '.join(names) or 'none'})"
            )
        chosen[key] = column
        if column:
            taken.add(column)
    return chosen, problems


def _read_csv(entry, ctx: Context) -> tuple[gpd.GeoDataFrame, object, list[str], list[str], list[str]]:
    """A CSV of points: lon/lat (WGS 84, through the official VN-2000 parameters) or x/y (the
    analysis CRS). Returns the frame, the CRS used, row labels, problems and warnings."""
    path = Path(entry.path)
    raw = path.read_bytes()
    try:
        text = raw.decode(entry.encoding or "utf-8-sig")
    except (UnicodeDecodeError, LookupError):
        raise ProjectsError(
            [
                f"the file is not {entry.encoding or 'UTF-8'} text (save it as CSV UTF-8, or give"
                " projects.encoding) / tệp không phải văn bản UTF-8"
            ],
            source=str(path),
        ) from None
    from .rules import _delimiter

    lines = text.splitlines()
    if lines and lines[0].lower().startswith("sep=") and len(lines[0]) == 5:
        delimiter, lines = lines[0][4], lines[1:]
    else:
        delimiter = _delimiter(text)
    try:
        rows = list(csv.reader(lines, delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise ProjectsError([f"not a readable CSV table ({exc}); check the quotes"], source=str(path)) from None
    if not rows:
        raise ProjectsError(["the table is empty (a header row is needed)"], source=str(path))
    header = [unicodedata.normalize("NFC", h.strip()) for h in rows[0]]
    lower = {h.lower(): i for i, h in enumerate(header)}

    def col(names):
        return next((lower[n] for n in names if n in lower), None)

    lon, lat, x, y = col(LON_NAMES), col(LAT_NAMES), col(X_NAMES), col(Y_NAMES)
    problems, warnings = [], []
    if x is not None and y is not None:
        ix, iy, crs, geographic = x, y, ctx.analysis_crs, False
        if lon is not None and lat is not None:
            warnings.append(
                f"{path.name}: both x/y and lon/lat columns: x/y (in the analysis CRS) used / dùng tọa độ x/y"
            )
    elif lon is not None and lat is not None:
        ix, iy, crs, geographic = lon, lat, crs_mod.recognise("EPSG:4326"), True
    else:
        raise ProjectsError(
            [
                f"a CSV of projects needs the columns lon and lat (WGS 84) or x and y"
                f" ({crs_mod.crs_label(ctx.analysis_crs)}); columns: {', '.join(header)}"
                " / thiếu cột tọa độ"
            ],
            source=str(path),
        )
    records, points, labels = [], [], []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            problems.append(f"row {line}: {len(row)} cells for {len(header)} columns")
            continue
        cells = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}
        labels.append(f"row {line}" + (f" ({cells.get(header[0])})" if cells.get(header[0]) else ""))
        point = None
        try:
            cx, cy = parse_number(row[ix] if ix < len(row) else ""), parse_number(row[iy] if iy < len(row) else "")
            if cx is None or cy is None:
                problems.append(f"{labels[-1]}: no coordinates / thiếu tọa độ")
            elif geographic and not (-180 <= cx <= 180 and -90 <= cy <= 90):
                problems.append(
                    f"{labels[-1]}, {header[ix]}/{header[iy]}: {cx}, {cy} are not degrees (name metre"
                    " columns x and y) / không phải kinh độ, vĩ độ"
                )
            elif not geographic and abs(cx) <= 360 and abs(cy) <= 360:
                problems.append(
                    f"{labels[-1]}, x/y: {cx}, {cy} look like degrees, not metres of"
                    f" {crs_mod.crs_label(ctx.analysis_crs)} (name the columns lon and lat)"
                    " / tọa độ x/y phải là mét"
                )
            else:
                point = shapely.Point(cx, cy)
        except ValueError:
            problems.append(
                f"{labels[-1]}, {header[ix]}/{header[iy]}: {row[ix]!r}, {row[iy]!r} are not numbers"
                " / tọa độ không phải là số"
            )
        records.append(cells)
        points.append(point)
    frame = gpd.GeoDataFrame(pd.DataFrame(records, columns=header), geometry=points, crs=crs)
    return frame, crs, labels, problems, warnings


def read_projects(entry, ctx: Context, vocabulary: Vocabulary | None = None) -> ProjectTable:
    """Read and validate the registry's projects; ProjectsError lists every bad value at once."""
    vocabulary = vocabulary or load_vocabulary()
    path, _ = split_selector(entry.path)
    source = Path(path).name
    problems: list[str] = []
    warnings: list[str] = []
    if Path(path).suffix.lower() == ".csv":
        gdf, crs, labels, problems, warnings = _read_csv(entry, ctx)
        layer = Layer(
            gdf=gdf,
            path=str(path),
            layer=None,
            crs=crs,
            crs_source="x/y: analysis CRS" if crs == ctx.analysis_crs else "lon/lat: WGS 84",
            encoding=entry.encoding or "utf-8",
            engine="csv",
        )
    else:
        spec = f"{entry.path}::{entry.layer}" if entry.layer else entry.path
        layer = read_layer(spec, encoding=entry.encoding, assume_crs=entry.assume_crs, encoding_option=None)
        gdf = layer.gdf
        labels = [f"feature {i}" for i in range(len(gdf))]
        warnings = list(layer.warnings)
    names = [str(c) for c in gdf.columns if c != "geometry"]
    columns, missing = _columns(names, entry, ctx.profile, source)
    if missing:
        raise ProjectsError(missing + problems, source=source)

    def cell(key: str, i: int):
        column = columns[key]
        if column is None:
            return None
        value = gdf[column].iloc[i]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        text = unicodedata.normalize("NFC", as_text(value)).strip()
        return text or None

    ids, seen = [], {}
    out = {k: [] for k in ("names", "sectors", "phases", "statuses", "capital", "funding")}
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    for i in range(len(gdf)):
        ident = cell("id", i)
        where = labels[i] + (f" (id {ident})" if ident and not labels[i].endswith(f"({ident})") else "")
        if ident is None:
            problems.append(f"{where}, id: empty / thiếu mã dự án")
        elif ident in seen:
            problems.append(f"{where}, id: {ident!r} already used by {seen[ident]} / trùng mã dự án")
        else:
            seen[ident] = labels[i]
        ids.append(ident or "")
        if not present[i] and layer.engine != "csv":
            problems.append(f"{where}: no geometry / không có hình học")
        code = cell("code", i)
        if code is None:
            problems.append(f"{where}, code: empty / thiếu mã loại đất")
        elif ctx.taxonomy.canonical(code) is None:
            problems.append(f"{where}, code: {code!r} is not a taxonomy code / không phải mã loại đất")
        values = {}
        for key in ("phase", "status", "funding"):
            raw = cell(key, i)
            canonical = vocabulary.canonical(key, raw) if raw is not None else None
            if raw is None and key != "funding":
                problems.append(f"{where}, {key}: empty / thiếu giá trị")
            elif raw is not None and canonical is None:
                examples = ", ".join(vocabulary.examples[key][:3])
                problems.append(
                    f"{where}, {key}: {raw!r} is not one of {', '.join(ALLOWED[key])}"
                    f"{f' (or Vietnamese: {examples}, …)' if examples else ''} / giá trị không hợp lệ"
                )
            values[key] = canonical
        capital = None
        raw_capital = cell("capital", i)
        try:
            capital = parse_number(raw_capital)
            if capital is not None and capital < 0:
                problems.append(f"{where}, capital: {raw_capital!r} is negative / vốn âm")
        except ValueError:
            problems.append(f"{where}, capital: {raw_capital!r} is not a number of billion VND / vốn không phải là số")
        out["names"].append(cell("name", i) or ident or "")
        out["sectors"].append(cell("sector", i) or "")
        out["phases"].append(values["phase"])
        out["statuses"].append(values["status"])
        out["capital"].append(capital)
        out["funding"].append(values["funding"])
    if len(gdf) == 0:
        problems.append("no project in the table / không có dự án nào")
    if problems:
        raise ProjectsError(problems, source=source)

    # Ids are unique and geometries present: prepare_layer keeps every feature, in order.
    prepared_frame = gdf.copy()
    prepared_frame["__id"] = ids
    prepared_frame["__name"] = out["names"]
    prepared = prepare_layer(
        Layer(
            gdf=prepared_frame,
            path=layer.path,
            layer=layer.layer,
            crs=layer.crs,
            crs_source=layer.crs_source,
            encoding=layer.encoding,
            engine=layer.engine,
        ),
        ctx.taxonomy,
        ctx.analysis_crs,
        code_field=columns["code"],
        label_field="__name",
        id_field="__id",
        role="plan",
        name=PLAN_ID,
    )
    if len(prepared) != len(gdf):
        kept = set(prepared.feature_ids)
        lost = [i for i in ids if i not in kept]
        raise ProjectsError(
            [f"id {i}: its geometry has no area or length once repaired / hình học không hợp lệ" for i in lost],
            source=source,
        )
    prepared.info.update({"fields": columns, "path": layer.path})
    return ProjectTable(layer=prepared, fields=columns, warnings=warnings, **out)


def read_plan_layer(ctx: Context, reg, plan) -> PreparedLayer:
    """A registered plan's layer as check_one reads it (same reader, normaliser and field rules)."""
    spec = reg.plan_spec(plan)
    layer = read_layer(
        spec,
        encoding=plan.encoding,
        assume_crs=plan.assume_crs,
        select=field_selector(
            spec,
            "plan",
            plan.code_field,
            plan.label_field,
            plan.id_field,
            ctx.profile.code_fields,
            ctx.profile.label_fields,
        ),
    )
    return prepare_layer(
        layer,
        ctx.taxonomy,
        ctx.analysis_crs,
        code_field=plan.code_field,
        label_field=plan.label_field,
        id_field=plan.id_field,
        code_candidates=ctx.profile.code_fields,
        label_candidates=ctx.profile.label_fields,
        role="plan",
        name=plan.id,
    )


# ----------------------------------------------------------------------------------------------
# Siting, reservation, hazard, schedule


def _size(geoms: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Area (polygons), length (lines) or number of points: what a share is a fraction of."""
    out = np.zeros(len(geoms), dtype=float)
    for kind, how in ((POLYGON, shapely.area), (LINE, shapely.length), (POINT, shapely.get_num_geometries)):
        mask = (kinds == kind) & ~shapely.is_missing(geoms)
        if mask.any():
            out[mask] = how(geoms[mask])
    return out


def siting(
    ctx: Context, layer: PreparedLayer, min_area: float = 1.0, jobs: int = 1
) -> tuple[list[str], gpd.GeoDataFrame, dict]:
    """Per project: the worst of its pieces on the master plan (conflict, conditional, unreviewed,
    consistent) or outside_master; and the conflict rows (§2) of check.check_plan."""
    frame, part = check_plan(ctx, layer, PLAN_ID, min_area, jobs)
    n = len(layer)
    index = {fid: i for i, fid in enumerate(layer.feature_ids)}
    rank = np.full(n, 4)  # 4 outside_master
    # Every piece on the master (compatible pairs included): found with the same engine.
    li, ri = ctx.master_tree.query(layer.geoms)
    pieces = intersect_pairs(layer.geoms, layer.kinds, ctx.master.geoms, li, ri, jobs)
    kinds = layer.kinds[pieces.left]
    size = _size(pieces.geoms, kinds)
    real = (kinds != POLYGON) | (size >= min_area)  # slivers make no finding, as in the check
    rank[np.unique(pieces.left[size > 0])] = 3  # consistent: some of it lies on the master
    verdict = ctx.rules.matrix[ctx.rules.code_indices(layer.codes)[pieces.left], ctx.master_code_index[pieces.right]]
    points = np.nonzero(kinds == POINT)[0]
    if len(points):  # a point on a shared edge belongs to the first zone, as in the overlay
        order = points[np.lexsort((pieces.right[points], pieces.left[points]))]
        firsts = order[np.r_[True, pieces.left[order][1:] != pieces.left[order][:-1]]]
        keep_point = np.zeros(len(kinds), dtype=bool)
        keep_point[firsts] = True
        real &= (kinds != POINT) | keep_point
    unreviewed = np.unique(pieces.left[(verdict == UNREVIEWED) & real])
    rank[unreviewed] = np.minimum(rank[unreviewed], 2)
    for fid, v in zip(frame["plan_feature"], frame["verdict"]):
        i = index[fid]
        rank[i] = min(rank[i], 0 if v == "conflict" else 1)
    return [SITINGS[r] for r in rank], frame, part


def _compatible_mask(rules: RulesTable) -> np.ndarray:
    """Matrix of pairs whose project code the plan's code gives: same code, or a compatible rule."""
    ok = np.array([r.verdict == "compatible" for r in rules.rules] + [False, True])  # -2 unreviewed, -1 same code
    return ok[rules.matrix]


RESERVED_SHARE = 0.5  # §9: at least half of the project's area, length or points


def reservation(
    layer: PreparedLayer, plans: list[tuple[str, PreparedLayer]], rules: RulesTable
) -> tuple[list[list[str]], list[dict]]:
    """Per project, the plans (each on its own) whose features of a compatible code cover at least
    half of it, and each such plan's share. Line and point features of a plan reserve only what
    they cover exactly (a road line reserves the road drawn on it, not a corridor)."""
    compatible = _compatible_mask(rules)
    project_codes = rules.code_indices(layer.codes)
    full = _size(layer.geoms, layer.kinds)
    reserved: list[list[str]] = [[] for _ in range(len(layer))]
    shares: list[dict] = [{} for _ in range(len(layer))]
    for plan_id, plan in plans:
        if len(plan) == 0:
            continue
        tree = shapely.STRtree(plan.geoms)
        li, ri = tree.query(layer.geoms, predicate="intersects")
        keep = compatible[project_codes[li], rules.code_indices(plan.codes)[ri]]
        li, ri = li[keep], ri[keep]
        if len(li) == 0:
            continue
        order = np.argsort(li, kind="stable")
        li, ri = li[order], ri[order]
        cut = keep_kind(shapely.intersection(layer.geoms[li], plan.geoms[ri]), layer.kinds[li])
        starts = np.r_[0, np.nonzero(np.diff(li))[0] + 1]
        for start, stop in zip(starts, np.r_[starts[1:], len(li)]):
            i = int(li[start])
            parts = [g for g in cut[start:stop] if g is not None and not shapely.is_empty(g)]
            if not parts:
                continue
            merged = shapely.union_all(parts)  # a plan's own overlapping features count once
            got = _size(np.array([merged], dtype=object), layer.kinds[i : i + 1])[0]
            share = got / full[i] if full[i] > 0 else 0.0
            if share <= NOISE:
                continue
            shares[i][plan_id] = round(float(share), 6)
            if share >= RESERVED_SHARE - 1e-12:
                reserved[i].append(plan_id)
    return reserved, shares


def main_unit(layer: PreparedLayer, units) -> list[tuple[str, str]]:
    """Per project, the (code, name) of the unit holding most of it (admin.split_by_units), or
    ("", "") when no unit does or no units are configured."""
    out = [("", "")] * len(layer)
    if units is None or len(layer) == 0:
        return out
    from .admin import split_by_units

    pieces = split_by_units(layer.geoms, layer.kinds, units)
    size = _size(pieces.geoms, layer.kinds[pieces.left])
    best: dict[int, tuple[float, int]] = {}
    for left, right, s in zip(pieces.left.tolist(), pieces.right.tolist(), size.tolist()):
        if right >= 0 and s > best.get(left, (-1.0, -1))[0]:
            best[left] = (s, right)
    for left, (_, right) in best.items():
        out[left] = (str(units.codes[right]), str(units.names[right]))
    return out


def schedule(phase: str, status: str, on: dt.date) -> str:
    """§9: overdue after its phase ended unless completed or cancelled; late_start when still
    proposed more than two years after its phase began; else on_track."""
    start, end = PHASES[phase]
    if on > end and status not in ("completed", "cancelled"):
        return "overdue"
    try:
        two_years_in = start.replace(year=start.year + LATE_START_YEARS)
    except ValueError:  # 29 February
        two_years_in = start.replace(year=start.year + LATE_START_YEARS, day=28)
    if status == "proposed" and on > two_years_in:
        return "late_start"
    return "on_track"


_VERDICT_WEIGHT = {"conflict": 0, "conditional": 1, "compatible": 2, "unknown": 3}
_SEVERITY_WEIGHT = {"high": 0, "medium": 1, "low": 2}


def hazard_bands(findings: pd.DataFrame | None, project_ids: list[str]) -> dict[str, dict | None]:
    """The highest hazard band (§8) each project falls into, from the hazards layer's rows of plan
    `projects` (plan_feature, hazard_id, rule_id, min_depth, verdict, severity, max_depth).

    "Highest": the worst verdict (conflict, conditional, compatible), then severity, then the
    deepest band; a project that lies only on cells with no data gets verdict `unknown` (not
    safe, CONTRACT §8). None when no band reaches the project, and for every project when
    `findings` is None (no hazards configured)."""
    out: dict[str, dict | None] = {pid: None for pid in project_ids}
    if findings is None or len(findings) == 0:
        return out
    rows = findings[findings["plan_id"] == PLAN_ID] if "plan_id" in findings else findings
    for row in rows.to_dict("records"):
        pid = str(row["plan_feature"])
        if pid not in out:
            continue

        def number(key):
            value = row.get(key)
            return None if value is None or pd.isna(value) else float(value)

        band = {
            "hazard_id": row["hazard_id"],
            "rule_id": row.get("rule_id") or None,
            "min_depth": number("min_depth"),
            "verdict": row["verdict"],
            "severity": row.get("severity") or None,
            "max_depth": None if number("max_depth") is None else round(number("max_depth"), 3),
        }
        now = out[pid]
        if now is None or _band_key(band) < _band_key(now):
            out[pid] = band
    return out


def _band_key(band: dict) -> tuple:
    depth = band["min_depth"] if band["min_depth"] is not None else -math.inf
    return (
        _VERDICT_WEIGHT.get(band["verdict"], 9),
        _SEVERITY_WEIGHT.get(band.get("severity"), 9),
        -depth,
        str(band["hazard_id"]),
    )


def screen_hazards(reg, ctx: Context, layer: PreparedLayer, screening=None) -> tuple[pd.DataFrame | None, list[str]]:
    """The projects screened as a plan (plan_id `projects`) by kgspatial.hazards (CONTRACT §8):
    its hazards rows and warnings, or (None, []) when the registry names no `hazards`.
    `screening`: a batch's open hazards.Screening (rasters opened once per run)."""
    if getattr(reg, "hazards", None) is None:
        return None, []
    units_list = [
        (u, prefix) for u, prefix in ((ctx.admin, "admin"), (ctx.admin_previous, "admin_prev")) if u is not None
    ]
    if screening is not None:
        return screening.plan(layer, PLAN_ID, units_list)
    from .hazards import Screening, load_hazards

    with Screening(load_hazards(reg.hazards, ctx.taxonomy, written=str(reg.hazards)), ctx.analysis_crs) as own:
        return own.plan(layer, PLAN_ID, units_list)


# ----------------------------------------------------------------------------------------------
# The whole assessment


@dataclass
class ProjectsResult:
    on: dt.date
    rows: list[dict]  # projects.json's "projects"
    conflicts: gpd.GeoDataFrame  # §2 rows, plan_id `projects`
    frame: gpd.GeoDataFrame  # the `projects` layer: one row per project, analysis CRS
    in_force: list[str]
    warnings: list[str]
    hazards_configured: bool = False

    @property
    def exit_code(self) -> int:
        """§9: 1 when any project's siting is conflict or its schedule overdue."""
        return 1 if any(r["siting"] == "conflict" or r["schedule"] == "overdue" for r in self.rows) else 0

    def counts(self) -> dict:
        rows = self.rows
        return {
            "projects": len(rows),
            "capital": round(sum(r["capital"] or 0.0 for r in rows), 3),
            "siting": {s: sum(r["siting"] == s for r in rows) for s in SITINGS},
            "schedule": {s: sum(r["schedule"] == s for r in rows) for s in SCHEDULES},
            "not_reserved": sum(not r["reserved_in"] for r in rows),
            "hazard": sum(r["hazard"] is not None for r in rows),
        }

    def to_json(self) -> dict:
        return {
            "on": self.on.isoformat(),
            "projects": self.rows,
            "in_force_plans": self.in_force,
            "hazards_configured": self.hazards_configured,
            "counts": self.counts(),
            "warnings": self.warnings,
        }


def hazard_text(band: dict | None) -> str | None:
    """'slr100 ≥ 0.5 m (conflict)' for the projects layer and the reports."""
    if band is None:
        return None
    depth = f" ≥ {band['min_depth']:g} m" if band["min_depth"] is not None else ""
    return f"{band['hazard_id']}{depth} ({band['verdict']})"


def in_force_plans(reg, on: dt.date) -> list:
    """The register's plans whose legal status on the date is in_force (CONTRACT §7)."""
    from .register import legal_status, load_transitions

    transitions = load_transitions()
    return [p for p in reg.plans if legal_status(p, reg, on, transitions).status == "in_force"]


def plan_layers(
    ctx: Context, reg, plans, known: dict | None = None
) -> tuple[list[tuple[str, PreparedLayer]], list[str]]:
    """The layers of the given plans (those in `known` reused, those read added to it); a plan that
    cannot be read reserves nothing and is named in a warning."""
    out, warnings = [], []
    for plan in plans:
        layer = known.get(plan.id) if known is not None else None
        if layer is None:
            try:
                layer = read_plan_layer(ctx, reg, plan)
            except InputError as exc:
                warnings.append(
                    f"{plan.id}: cannot be read, so it reserves nothing: {exc}"
                    " / không đọc được quy hoạch, không tính là có dành quỹ đất"
                )
                continue
            if known is not None:
                known[plan.id] = layer  # read once for projects and indicators alike
        out.append((plan.id, layer))
    return out, warnings


def assess(
    ctx: Context,
    reg,
    table: ProjectTable,
    on: dt.date,
    known: dict | None = None,
    min_area: float = 1.0,
    jobs: int = 1,
    screening=None,
    strict: bool = True,
) -> ProjectsResult:
    """Siting, reservation, hazard band and schedule of every project on the date. `strict`: a
    hazard raster that cannot screen the projects is an error (exit 2, as for `kgspatial hazards`);
    a batch (strict=False) records it as a warning and keeps its province outputs."""
    layer = table.layer
    sitings, conflicts, part = siting(ctx, layer, min_area, jobs)
    in_force = in_force_plans(reg, on)
    layers, warnings = plan_layers(ctx, reg, in_force, known)
    reserved, shares = reservation(layer, layers, ctx.rules)
    try:
        findings, notes = screen_hazards(reg, ctx, layer, screening)
    except KgSpatialError as exc:
        if strict:
            raise
        findings, notes = (
            None,
            [
                f"projects: hazard screening failed, hazard left null: {exc}"
                " / không sàng lọc được rủi ro thiên tai cho dự án"
            ],
        )
    warnings += notes
    bands = hazard_bands(findings, table.ids)
    sizes = _size(layer.geoms, layer.kinds)
    units = main_unit(layer, ctx.admin)
    rows = []
    for i, pid in enumerate(table.ids):
        kind = int(layer.kinds[i])
        rows.append(
            {
                "id": pid,
                "name": table.names[i],
                "sector": table.sectors[i],
                "phase": table.phases[i],
                "status": table.statuses[i],
                "capital": table.capital[i],
                "funding": table.funding[i],
                "siting": sitings[i],
                "reserved_in": reserved[i],
                "hazard": bands[pid],
                "schedule": schedule(table.phases[i], table.statuses[i], on),
                "code": str(layer.codes[i]),
                "kind": KIND_NAMES[kind],
                "area_m2": round(float(sizes[i]), 3) if kind == POLYGON else 0.0,
                "length_m": round(float(sizes[i]), 3) if kind == LINE else 0.0,
                "reserved_share": shares[i],
                "admin_code": units[i][0],
                "admin_name": units[i][1],
            }
        )
    frame = gpd.GeoDataFrame(
        {
            "project_id": [r["id"] for r in rows],
            "name": [r["name"] for r in rows],
            "code": [r["code"] for r in rows],
            "sector": [r["sector"] for r in rows],
            "phase": [r["phase"] for r in rows],
            "status": [r["status"] for r in rows],
            "capital": [r["capital"] for r in rows],
            "funding": [r["funding"] for r in rows],
            "siting": [r["siting"] for r in rows],
            "reserved_in": [",".join(r["reserved_in"]) for r in rows],
            "hazard": [hazard_text(r["hazard"]) for r in rows],
            "schedule": [r["schedule"] for r in rows],
            "kind": [r["kind"] for r in rows],
            "area_m2": [r["area_m2"] for r in rows],
            "length_m": [r["length_m"] for r in rows],
            "admin_code": [r["admin_code"] for r in rows],
            "admin_name": [r["admin_name"] for r in rows],
        },
        geometry=gpd.GeoSeries(layer.geoms, crs=ctx.analysis_crs),
    )
    warnings = table.warnings + part["warnings"] + warnings
    if part["unreviewed"]:
        pairs = ", ".join(f"{u['plan_code']}/{u['master_code']}" for u in part["unreviewed"][:10])
        warnings.append(f"projects: code pairs no rule covers (unreviewed): {pairs} / cặp mã chưa có quy tắc")
    return ProjectsResult(
        on=on,
        rows=rows,
        conflicts=conflicts,
        frame=frame,
        in_force=[p for p, _ in layers],
        warnings=warnings,
        hazards_configured=findings is not None,
    )


# ----------------------------------------------------------------------------------------------
# Outputs


def write_projects_outputs(result: ProjectsResult, stage: Path, english: bool = False) -> list[Path]:
    """projects.json, projects.gpkg (layers conflicts and projects) and projects.xlsx in `stage`."""
    import pyogrio

    from .output import write_conflicts_gpkg

    stage.mkdir(parents=True, exist_ok=True)
    (stage / "projects.json").write_text(
        json.dumps(result.to_json(), ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8"
    )
    gpkg = stage / "projects.gpkg"
    write_conflicts_gpkg(result.conflicts, gpkg)
    pyogrio.write_dataframe(
        result.frame, gpkg, layer=PROJECTS_LAYER, driver="GPKG", geometry_type="Unknown", promote_to_multi=False
    )
    from .reports.projects import write_projects_xlsx

    write_projects_xlsx(result, stage / "projects.xlsx", english=english)
    return [stage / "projects.json", gpkg, stage / "projects.xlsx"]


def build_context_for(reg, progress=None) -> Context:
    """The check context of a registry (master, admin units, rules), as batch builds it."""
    from .batch import BatchOptions, _check_options
    from .check import build_context

    opts = _check_options(reg, BatchOptions(registry=reg.path, out="."))
    return build_context(opts, progress) if progress else build_context(opts)


def run_projects(
    registry: str | Path, out: str | Path, on: dt.date | None = None, english: bool = False, progress=None
) -> ProjectsResult:
    """`kgspatial projects`: every input validated first (nothing written when one is bad)."""
    from .output import check_out_folder, staged_output
    from .registry import load_registry

    reg = load_registry(registry)
    if reg.projects is None:
        raise InputError(
            f"{reg.path.name}: no `projects:` key: name the projects layer or CSV"
            " (CONTRACT §9) / sổ đăng ký không có danh mục dự án"
        )
    check_out_folder(out)
    ctx = build_context_for(reg, progress)
    table = read_projects(reg.projects, ctx)
    result = assess(ctx, reg, table, on or dt.date.today())
    with staged_output(out, owned=("projects.json", "projects.gpkg", "projects.xlsx")) as stage:
        write_projects_outputs(result, stage, english=english)
    return result


# ----------------------------------------------------------------------------------------------
# In a batch run (CONTRACT §9: "both are also part of batch")


@dataclass
class Extras:
    """The registry's projects and indicators, read and validated before any plan is checked."""

    table: ProjectTable | None = None
    indicators: list | None = None
    warnings: list[str] = field(default_factory=list)


def read_extras(reg, ctx: Context) -> Extras:
    """Bad values in either table stop the batch here (exit 2), before anything is done."""
    from .indicators import IndicatorsError, load_indicators

    extras, problems = Extras(), []
    if reg.projects is not None:
        try:
            extras.table = read_projects(reg.projects, ctx)
        except ProjectsError as exc:
            problems += [f"projects ({exc.args[0].split(':', 1)[0]}): {p}" for p in exc.problems]
    if reg.indicators is not None:
        try:
            extras.indicators, extras.warnings = load_indicators(reg.indicators, ctx)
        except IndicatorsError as exc:
            problems += [f"indicators ({reg.indicators.name}): {p}" for p in exc.problems]
    if problems:
        raise ProjectsError(problems, source=str(reg.path.name))
    return extras


def assess_extras(ctx: Context, reg, extras: Extras, on: dt.date, known: dict | None = None, screening=None):
    """(ProjectsResult or None, IndicatorsResult or None) of a batch run; the plans it read
    already (`known`: plan id -> PreparedLayer) are not read again, nor the hazard rasters
    (`screening`, the batch's open hazards.Screening)."""
    from .indicators import in_force_layers, measure

    known = dict(known or {})
    projects = (
        assess(ctx, reg, extras.table, on, known, screening=screening, strict=False)
        if extras.table is not None
        else None
    )
    indicators = None
    if extras.indicators is not None:
        plans, warnings = in_force_layers(ctx, reg, on, known)
        indicators = measure(ctx, extras.indicators, plans, on, extras.warnings + warnings)
    return projects, indicators


def write_extras(projects, indicators, stage: Path, english: bool = False) -> None:
    """DIR/projects.json, .gpkg, .xlsx and DIR/indicators.json of a batch run."""
    if projects is not None:
        write_projects_outputs(projects, stage, english=english)
    if indicators is not None:
        from .indicators import write_indicators_json

        write_indicators_json(indicators, stage / "indicators.json")
