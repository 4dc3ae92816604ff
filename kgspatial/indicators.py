"""Land-use indicators (chỉ tiêu sử dụng đất, CONTRACT §9): does the master plan, and do the plans
in force, keep each unit's allocation?

`master_ha` is the master plan's area of a code (or group) inside a unit; `plans_ha` the same in
the `in_force` plans of the register combined, where overlapping plans are resolved by the most
recent approval (the plan approved last is the one that applies to the land). A unit is one of
the registry's `admin` units, one of its `admin_previous` (pre-2025) units, measured inside that
old boundary, or `*` for the whole province.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from .check import Context
from .errors import InputError, RulesError
from .prepare import POLYGON, PreparedLayer

COLUMNS = ("unit_code", "code", "bound", "target_ha", "tolerance_pct", "source")
OPTIONAL = ("units", "note")  # units: admin | admin_previous, for a code both sets use
BOUNDS = ("max", "min", "target")
DEFAULT_TOLERANCE_PCT = 5.0
VERDICTS = ("ok", "over", "under")
WHOLE_PROVINCE = "*"


class IndicatorsError(RulesError):
    """A malformed indicator table: every problem listed at once (exit 2)."""


@dataclass(frozen=True)
class Indicator:
    row: int
    unit_code: str
    units: str  # admin | admin_previous | province
    code: str
    bound: str
    target_ha: float
    tolerance_pct: float | None  # target rows only (default 5)
    source: str


def _number(text: str) -> float:
    from .projects import parse_number

    value = parse_number(text)
    if value is None:
        raise ValueError("empty")
    return value


def load_indicators(path: str | Path, ctx: Context) -> tuple[list[Indicator], list[str]]:
    """Read and validate the table against the run's taxonomy and units; (rows, warnings)."""
    path = Path(path)
    source = path.name
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise IndicatorsError([f"không đọc được / cannot read ({exc.strerror})"], source=source) from None
    except UnicodeDecodeError:
        raise IndicatorsError(
            [
                "tệp không phải văn bản UTF-8 (hãy lưu dạng CSV UTF-8) / the file is not UTF-8 text"
                " (save it as CSV UTF-8)"
            ],
            source=source,
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
        raise IndicatorsError(
            [
                f"không đọc được bảng CSV, hãy kiểm tra dấu ngoặc kép / not a readable CSV table ({exc});"
                " check the quotes"
            ],
            source=source,
        ) from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise IndicatorsError(
            ["bảng trống, cần dòng tiêu đề / the table is empty (a header row is needed)"], source=source
        )
    header = [h.strip().lower() for h in rows[0]]
    problems = []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        problems.append(f"header: thiếu cột / missing column(s) {', '.join(missing)}")
    unknown = [h for h in header if h and h not in COLUMNS + OPTIONAL]
    if unknown:
        problems.append(f"header: cột không có trong bảng / unknown column(s) {', '.join(unknown)}")
    if problems:
        raise IndicatorsError(problems, source=source)
    col = {h: i for i, h in enumerate(header) if h}
    sets = {"admin": ctx.admin, "admin_previous": ctx.admin_previous}
    codes = {k: set(u.codes.tolist()) if u is not None else set() for k, u in sets.items()}
    out: list[Indicator] = []
    both = 0
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(header):
            problems.append(
                f"row {line}: {len(row)} ô cho {len(header)} cột / {len(row)} cells for {len(header)} columns"
            )
            continue
        cell = {h: unicodedata.normalize("NFC", row[i].strip()) if i < len(row) else "" for h, i in col.items()}
        unit, units = cell["unit_code"], cell.get("units", "").lower()
        if units and units not in sets:
            problems.append(
                f"row {line}, units: {cell['units']!r} không phải admin hay admin_previous / is not admin or"
                " admin_previous"
            )
        elif unit == WHOLE_PROVINCE:
            units = "province"
        elif not unit:
            problems.append(
                f"row {line}, unit_code: trống (mã một đơn vị hành chính, hoặc * cho cả tỉnh) / empty (a unit"
                " code, or * for the whole province)"
            )
        elif units:
            if unit not in codes[units]:
                problems.append(
                    f"row {line}, unit_code: {unit!r} không phải mã đơn vị hành chính ({units}) / is not a"
                    f" code of the registry's {units} units"
                )
        else:
            where = [k for k in sets if unit in codes[k]]
            if not where:
                have = " or ".join(k for k in sets if sets[k] is not None) or "no"
                problems.append(
                    f"row {line}, unit_code: {unit!r} mã đơn vị hành chính không có / is not a code of the"
                    f" registry's {have} units"
                )
            else:
                both += len(where) > 1
                units = where[0]  # the current units first: a 2025 unit keeps the code of one old commune
        code = ctx.taxonomy.canonical(cell["code"]) if cell["code"] else None
        if code is None:
            problems.append(
                f"row {line}, code: {cell['code']!r} không phải mã hay nhóm loại đất / is not a taxonomy code or group"
            )
        bound = cell["bound"].lower()
        if bound not in BOUNDS:
            problems.append(
                f"row {line}, bound: {cell['bound']!r} không phải {', '.join(BOUNDS)} / is not one of"
                f" {', '.join(BOUNDS)}"
            )
        target = None
        try:
            target = _number(cell["target_ha"])
            if target < 0:
                problems.append(f"row {line}, target_ha: {cell['target_ha']!r} là số âm / is negative")
        except ValueError:
            problems.append(
                f"row {line}, target_ha: {cell['target_ha']!r} không phải số héc-ta / is not a number of hectares"
            )
        tolerance = None
        if cell["tolerance_pct"]:
            try:
                tolerance = _number(cell["tolerance_pct"])
                if not 0 <= tolerance <= 100:
                    problems.append(
                        f"row {line}, tolerance_pct: {cell['tolerance_pct']!r} không nằm trong 0–100 / is not"
                        " between 0 and 100"
                    )
            except ValueError:
                problems.append(
                    f"row {line}, tolerance_pct: {cell['tolerance_pct']!r} không phải một số (phần trăm) / is"
                    " not a number (per cent)"
                )
            if bound in ("max", "min"):
                problems.append(
                    f"row {line}, tolerance_pct: chỉ tiêu {bound} không có dung sai (chỉ target có) / a {bound}"
                    " bound takes no tolerance (only target does)"
                )
        elif bound == "target":
            tolerance = DEFAULT_TOLERANCE_PCT
        if not problems or (code and bound in BOUNDS and target is not None):
            out.append(Indicator(line, unit, units, code or "", bound, target or 0.0, tolerance, cell["source"]))
    if not rows[1:] or (not out and not problems):
        problems.append("bảng không có dòng chỉ tiêu nào / the table has no indicator rows")
    if problems:
        raise IndicatorsError(problems, source=source)
    warnings = []
    if both:
        warnings.append(
            f"{source}: {both} row(s) name a code that both the 2025 units and the pre-2025 units use:"
            " measured in the 2025 unit (add a column units = admin_previous for the old one)"
            " / mã đơn vị trùng giữa đơn vị mới và cũ: tính theo đơn vị mới"
        )
    return out, warnings


def _matches(taxonomy, codes: np.ndarray, wanted: str) -> np.ndarray:
    """Features whose code is `wanted` or lies under it (a group)."""
    memo: dict = {}
    out = np.zeros(len(codes), dtype=bool)
    for i, c in enumerate(codes):
        if c is None:
            continue
        if c not in memo:
            memo[c] = c == wanted or wanted in taxonomy.ancestors(c)
        out[i] = memo[c]
    return out


def _area_inside(geoms: np.ndarray, unit) -> float:
    """Total area of polygons (m²), inside `unit` when one is given (a prepared copy of the unit:
    zones it covers count whole, the others are intersected)."""
    if len(geoms) == 0:
        return 0.0
    if unit is None:
        return float(shapely.area(geoms).sum())
    whole = shapely.covered_by(geoms, unit)
    rest = geoms[~whole]
    rest = rest[shapely.intersects(rest, unit)]
    cut = float(shapely.area(shapely.intersection(rest, unit)).sum()) if len(rest) else 0.0
    return float(shapely.area(geoms[whole]).sum()) + cut


def _own_prepared(geom):
    """A copy of a shared unit geometry, prepared (GEOS builds a prepared index lazily and unsafely
    under concurrency; the AdminUnits are shared, so they stay unprepared)."""
    copy = shapely.from_wkb(shapely.to_wkb(geom))
    shapely.prepare(copy)
    return copy


def flatten_plans(plans: list[tuple[str, dt.date, PreparedLayer]]) -> tuple[list[tuple[str, str, object]], object]:
    """The in-force plans as one layer: where they overlap, the most recently approved applies (a
    tie goes to the plan listed later in the registry). Returns (plan id, code, area) pieces and
    the union of everything the plans cover."""
    order = sorted(enumerate(plans), key=lambda item: (item[1][1], item[0]), reverse=True)
    covered = None
    pieces = []
    for _, (plan_id, _, layer) in order:
        polygons = layer.kinds == POLYGON
        geoms, codes = layer.geoms[polygons], layer.codes[polygons]
        if len(geoms) == 0:
            continue
        for code in sorted({c for c in codes if c is not None}):
            area = shapely.union_all(geoms[codes == code])  # a plan's own overlaps count once
            if covered is not None:
                area = shapely.difference(area, covered)
            if not shapely.is_empty(area):
                pieces.append((plan_id, code, area))
        own = shapely.union_all(geoms)
        covered = own if covered is None else shapely.union(covered, own)
    return pieces, covered


def verdict(value_ha: float, bound: str, target_ha: float, tolerance_pct: float | None) -> str:
    """ok / over / under, on the figure shown (hectares to 4 decimals)."""
    value = round(value_ha, 4)
    if bound == "max":
        return "over" if value > target_ha + 1e-9 else "ok"
    if bound == "min":
        return "under" if value < target_ha - 1e-9 else "ok"
    slack = target_ha * (tolerance_pct if tolerance_pct is not None else DEFAULT_TOLERANCE_PCT) / 100.0
    if value > target_ha + slack + 1e-9:
        return "over"
    if value < target_ha - slack - 1e-9:
        return "under"
    return "ok"


@dataclass
class IndicatorsResult:
    on: dt.date
    rows: list[dict]
    in_force: list[str]
    warnings: list[str]

    @property
    def exit_code(self) -> int:
        """§9: 1 when any verdict is not ok."""
        return 1 if any(r["master_verdict"] != "ok" or r["plans_verdict"] != "ok" for r in self.rows) else 0

    def counts(self) -> dict:
        return {
            f"{side}_{v}": sum(r[f"{side}_verdict"] == v for r in self.rows)
            for side in ("master", "plans")
            for v in VERDICTS
        }

    def to_json(self) -> dict:
        return {
            "on": self.on.isoformat(),
            "rows": self.rows,
            "in_force_plans": self.in_force,
            "counts": self.counts(),
            "warnings": self.warnings,
        }


def measure(
    ctx: Context,
    indicators: list[Indicator],
    plans: list[tuple[str, dt.date, PreparedLayer]],
    on: dt.date,
    warnings: list[str] | None = None,
) -> IndicatorsResult:
    """Every indicator row, in the table's order, with both areas and both verdicts."""
    master = ctx.master
    pieces, covered = flatten_plans(plans)
    piece_codes = np.array([c for _, c, _ in pieces], dtype=object)
    piece_geoms = np.array([g for _, _, g in pieces], dtype=object)
    units = {"admin": ctx.admin, "admin_previous": ctx.admin_previous}
    rows = []
    for ind in indicators:
        unit_geom, unit_name = None, "Toàn tỉnh / whole province"
        if ind.units in units:
            u = units[ind.units]
            k = int(np.nonzero(u.codes == ind.unit_code)[0][0])
            unit_geom, unit_name = _own_prepared(u.geoms[k]), str(u.names[k])
        near = np.sort(ctx.master_tree.query(unit_geom)) if unit_geom is not None else np.arange(len(master))
        in_master = near[_matches(ctx.taxonomy, master.codes[near], ind.code) & (master.kinds[near] == POLYGON)]
        master_ha = _area_inside(master.geoms[in_master], unit_geom) / 1e4
        detail = {}
        if len(pieces):
            chosen = _matches(ctx.taxonomy, piece_codes, ind.code)
            for (plan_id, _, _), geom in zip([p for p, c in zip(pieces, chosen) if c], piece_geoms[chosen]):
                got = _area_inside(np.array([geom], dtype=object), unit_geom) / 1e4
                if got > 0:
                    detail[plan_id] = detail.get(plan_id, 0.0) + got
        plans_ha = float(sum(detail.values()))
        cover_ha = (_area_inside(np.array([covered], dtype=object), unit_geom) / 1e4) if covered is not None else 0.0
        rows.append(
            {
                "unit_code": ind.unit_code,
                "units": ind.units,
                "unit_name": unit_name,
                "code": ind.code,
                "bound": ind.bound,
                "target_ha": ind.target_ha,
                "tolerance_pct": ind.tolerance_pct,
                "master_ha": round(master_ha, 4),
                "master_verdict": verdict(master_ha, ind.bound, ind.target_ha, ind.tolerance_pct),
                "plans_ha": round(plans_ha, 4),
                "plans_verdict": verdict(plans_ha, ind.bound, ind.target_ha, ind.tolerance_pct),
                "plans_cover_ha": round(cover_ha, 4),
                "plans_detail": {k: round(v, 4) for k, v in detail.items()},
                "source": ind.source,
            }
        )
    return IndicatorsResult(on=on, rows=rows, in_force=[p for p, _, _ in plans], warnings=list(warnings or []))


def in_force_layers(ctx: Context, reg, on: dt.date, known: dict | None = None) -> tuple[list, list[str]]:
    """(plan id, approval date, layer) of the plans in force on the date, and warnings."""
    from .projects import in_force_plans, plan_layers

    plans = in_force_plans(reg, on)
    layers, warnings = plan_layers(ctx, reg, plans, known)
    approved = {p.id: p.approved for p in plans}
    return [(pid, approved[pid], layer) for pid, layer in layers], warnings


def write_indicators_json(result: IndicatorsResult, path: Path) -> None:
    path.write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def run_indicators(registry: str | Path, out: str | Path, on: dt.date | None = None, progress=None) -> IndicatorsResult:
    """`kgspatial indicators`: the table validated first (nothing written when it is bad)."""
    from .output import check_out_folder, staged_output
    from .projects import build_context_for
    from .registry import load_registry

    reg = load_registry(registry)
    if reg.indicators is None:
        raise InputError(
            f"{reg.path.name}: no `indicators:` key: name the indicator table (CONTRACT §9)"
            " / sổ đăng ký không có bảng chỉ tiêu"
        )
    check_out_folder(out)
    ctx = build_context_for(reg, progress)
    indicators, warnings = load_indicators(reg.indicators, ctx)
    on = on or dt.date.today()
    plans, more = in_force_layers(ctx, reg, on)
    result = measure(ctx, indicators, plans, on, warnings + more)
    with staged_output(out, owned=("indicators.json",)) as stage:
        write_indicators_json(result, stage / "indicators.json")
    return result


__all__ = [
    "BOUNDS",
    "Indicator",
    "IndicatorsError",
    "IndicatorsResult",
    "load_indicators",
    "measure",
    "run_indicators",
    "verdict",
]
