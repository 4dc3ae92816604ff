"""The XLSX report (openpyxl): plans, one row per conflict piece, per-commune and per-rule tables,
unreviewed pairs and the methodology. Figures are written as numbers with number formats, so a
planner can sort, filter and add them up in the spreadsheet."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from ..numfmt import XLSX_HECTARES, ha_decimals
from .html import method_items, status_text
from .model import ReportData

FORMATS = {
    "text": "@",
    "int": "#,##0",
    "ha": XLSX_HECTARES,  # 2 decimals from 1 ha, 4 below (kgspatial.numfmt)
    "m": "#,##0.0",
    "share": "0.0%",
    "date": "DD/MM/YYYY",
}
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="13315C")
MAX_WIDTH = 60
MAX_SHEET_ROWS = 1_000_000


@dataclass(frozen=True)
class Column:
    key: str  # label key (header) and, by default, the record key
    kind: str = "text"
    field: str | None = None

    @property
    def source(self) -> str:
        return self.field or self.key


def write_xlsx(data: ReportData, path: Path) -> None:
    L = data.labels
    wb = Workbook(write_only=True)

    plans = [_plan_record(p, L) for p in data.plans]
    _sheet(
        wb,
        L("sheet_plans"),
        L,
        [
            Column("plan_id"),
            Column("plan_name"),
            Column("plan_type"),
            Column("decision"),
            Column("approved", "date"),
            Column("authority"),
            Column("conflict_pieces", "int"),
            Column("conflict_area", "ha"),
            Column("conflict_length", "m"),
            Column("conflict_points", "int"),
            Column("conditional_pieces", "int"),
            Column("conditional_area", "ha"),
            Column("conditional_length", "m"),
            Column("conditional_points", "int"),
            Column("status"),
            Column("reason"),
            Column("path"),
        ],
        plans,
    )

    conflict_cols = [
        Column("conflict_id"),
        Column("plan_id"),
        *([Column("against")] if data.has_parents else []),
        Column("plan_feature"),
        Column("rule_id"),
        Column("verdict"),
        Column("severity"),
        Column("kind"),
        Column("plan_code"),
        Column("plan_label"),
        Column("master_code"),
        Column("master_label"),
        Column("master_feature"),
        Column("area_ha", "ha"),
        Column("length_m", "m"),
        Column("share", "share"),
    ]
    if data.has_admin:
        conflict_cols += [Column("admin_code"), Column("admin_name")]
    if data.has_admin_prev:
        conflict_cols += [Column("admin_prev_code"), Column("admin_prev_name")]
    conflict_cols.append(Column("reference"))
    # A worksheet holds 1,048,576 rows: a province-wide run can have more pieces than that.
    n = len(data.rows)
    for part, start in enumerate(range(0, max(n, 1), MAX_SHEET_ROWS)):
        title = L("sheet_conflicts") + (f" ({part + 1})" if n > MAX_SHEET_ROWS else "")
        _sheet(wb, title, L, conflict_cols, _conflict_records(data, start, start + MAX_SHEET_ROWS))

    for units, sheet, code_key, name_key in (
        (data.by_admin, "sheet_admin", "admin_code", "admin_name"),
        (data.by_admin_prev, "sheet_admin_prev", "admin_prev_code", "admin_prev_name"),
    ):
        if not units and not (data.has_admin if sheet == "sheet_admin" else data.has_admin_prev):
            continue
        _sheet(
            wb,
            L(sheet),
            L,
            [
                Column(code_key, field="code"),
                Column(name_key, field="name"),
                Column("plans_n", "int", "plans"),
                Column("conflict_pieces", "int"),
                Column("conflict_area", "ha", "conflict_area_ha"),
                Column("conflict_length", "m", "conflict_length_m"),
                Column("conflict_points", "int"),
                Column("conditional_pieces", "int"),
                Column("conditional_area", "ha", "conditional_area_ha"),
                Column("conditional_length", "m", "conditional_length_m"),
                Column("conditional_points", "int"),
            ],
            [_with_ha({**u, "name": u.get("name") or ("" if u.get("code") else L("outside_units"))}) for u in units],
        )

    _sheet(
        wb,
        L("sheet_rules"),
        L,
        [
            Column("rule_id"),
            Column("plan_code"),
            Column("plan_code_name", field="plan_name"),
            Column("master_code"),
            Column("master_code_name", field="master_name"),
            Column("verdict"),
            Column("severity"),
            Column("pieces", "int"),
            Column("area_ha", "ha"),
            Column("length_m", "m"),
            Column("points", "int"),
            Column("reference"),
            Column("note"),
        ],
        [_translated(_with_ha(r), L) for r in data.by_rule],
    )

    if data.by_plan_type:
        _sheet(
            wb,
            L("sheet_plan_type"),
            L,
            [
                Column("plan_type", field="type_label"),
                Column("plans_n", "int", "plans"),
                Column("plans_adjust_n", "int", "adjust"),
                Column("plans_failed", "int", "failed"),
                Column("conflict_pieces", "int"),
                Column("conflict_area", "ha", "conflict_area_ha"),
                Column("conflict_length", "m", "conflict_length_m"),
                Column("conflict_points", "int"),
                Column("conditional_pieces", "int"),
                Column("conditional_area", "ha", "conditional_area_ha"),
                Column("conditional_length", "m", "conditional_length_m"),
                Column("conditional_points", "int"),
            ],
            [_with_ha(r) for r in data.by_plan_type],
        )

    if data.excepted is not None and len(data.excepted):  # CONTRACT §10: apart, with their decision
        excepted_cols = [c for c in conflict_cols if c.key != "reference"] + [
            Column("review_decision"),
            Column("reference"),
        ]
        _sheet(wb, L("sheet_excepted"), L, excepted_cols, _conflict_records(data, frame=data.excepted))

    # The overlap's own figures only when measured (--exact-unreviewed); else the features concerned.
    exact = any("area_m2" in u for u in data.unreviewed)
    unreviewed_cols = [
        Column("plan_id"),
        Column("plan_code"),
        Column("plan_code_name", field="plan_name"),
        Column("master_code"),
        Column("master_code_name", field="master_name"),
        Column("features", "int"),
        Column("feature_area_ha", "ha"),
        Column("feature_length_m", "m"),
    ]
    unreviewed_cols += [Column("pieces", "int"), Column("area_ha", "ha"), Column("length_m", "m")] if exact else []
    unreviewed_cols += [Column("points", "int")]
    _sheet(wb, L("sheet_unreviewed"), L, unreviewed_cols, [_with_ha(u) for u in data.unreviewed])

    if data.hazards:
        _hazard_sheets(wb, data)
    if data.projects or data.indicators:  # CONTRACT §9
        from .projects import add_indicator_sheet, add_projects_sheets

        if data.projects:
            add_projects_sheets(wb, data.projects["result"], english=L.lang == "en")
        if data.indicators:
            add_indicator_sheet(wb, data.indicators["result"], english=L.lang == "en")
    _method_sheet(wb, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def _hazard_sheets(wb: Workbook, data: ReportData) -> None:
    """CONTRACT §8: a summary row per hazard and band (and its unknown part), then every finding."""
    L = data.labels
    summary, rows = [], []
    for h in data.hazards:
        name = h["name_en"] if L.english else h["name_vi"]
        head = {"hazard_id": h["id"], "h_hazard": name, "hz_scenario": h["scenario"], "hz_source": h["source"]}
        for b in h["bands"]:
            summary.append({**head, **_translated(_with_ha(b), L), "hz_band": b["band"]})
        if h["unknown_m2"] or h["unknown_m"] or h["unknown_points"]:
            summary.append(
                {
                    **head,
                    "verdict": L("unknown"),
                    "area_ha": h["unknown_m2"] / 10_000.0,
                    "length_m": h["unknown_m"],
                    "points": h["unknown_points"],
                }
            )
        rows += [
            {**_translated(_with_ha(r), L), "hz_band": r["band"], "hz_mean": r["mean_depth"], "hz_max": r["max_depth"]}
            for r in h["rows"]
        ]
    _sheet(
        wb,
        L("sheet_hazards"),
        L,
        [
            Column("hazard_id"),
            Column("h_hazard"),
            Column("hz_scenario"),
            Column("rule_id"),
            Column("plan_code"),
            Column("hz_band"),
            Column("verdict"),
            Column("severity"),
            Column("pieces", "int"),
            Column("area_ha", "ha"),
            Column("length_m", "m"),
            Column("points", "int"),
            Column("reference"),
            Column("note"),
            Column("hz_source"),
        ],
        summary,
    )
    cols = [
        Column("finding_id"),
        Column("hazard_id"),
        Column("plan_id"),
        Column("plan_feature"),
        Column("plan_code"),
        Column("plan_label"),
        Column("rule_id"),
        Column("hz_band"),
        Column("verdict"),
        Column("severity"),
        Column("kind"),
        Column("area_ha", "ha"),
        Column("length_m", "m"),
        Column("share", "share"),
        Column("hz_mean", "m"),
        Column("hz_max", "m"),
        Column("unknown_m2", "m"),
    ]
    if any("admin_code" in r for r in rows):
        cols += [Column("admin_code"), Column("admin_name")]
    if any("admin_prev_code" in r for r in rows):
        cols += [Column("admin_prev_code"), Column("admin_prev_name")]
    cols.append(Column("reference"))
    _sheet(wb, L("sheet_hazard_rows"), L, cols, rows[:MAX_SHEET_ROWS])


def _plan_record(plan, L) -> dict:
    f = plan.figures
    if plan.failed:  # not checked: no figures, rather than zeros that read as "no conflict"
        f = {k: None for k in f}
    return {
        "plan_id": plan.id,
        "plan_name": plan.name,
        "plan_type": L.plan_type(plan.type),
        "decision": plan.decision,
        "approved": plan.approved,
        "authority": plan.authority,
        "conflict_pieces": f["conflict_pieces"],
        "conflict_area": _ha(f["conflict_area_m2"]),
        "conflict_length": f["conflict_length_m"],
        "conflict_points": f["conflict_points"],
        "conditional_pieces": f["conditional_pieces"],
        "conditional_area": _ha(f["conditional_area_m2"]),
        "conditional_length": f["conditional_length_m"],
        "conditional_points": f["conditional_points"],
        "status": status_text(plan, L),
        "reason": plan.reason,
        "path": plan.path,
    }


def _ha(m2):
    return None if m2 is None else m2 / 10_000.0


def _conflict_records(data: ReportData, start: int = 0, stop: int | None = None, frame=None):
    L = data.labels
    frame = data.rows if frame is None else frame
    for record in frame.iloc[start:stop].to_dict("records"):
        for key in ("verdict", "severity", "kind", "against"):
            record[key] = L.value(record.get(key))
        for code, name in (("admin_code", "admin_name"), ("admin_prev_code", "admin_prev_name")):
            if code in record and not record[code] and not record.get(name):
                record[name] = L("outside_units")  # as the HTML and PDF say it, not a blank cell
        yield record


def _with_ha(row: dict) -> dict:
    out = dict(row)
    for key, value in row.items():
        if key.endswith("area_m2") and value is not None:
            out[key[: -len("area_m2")] + "area_ha"] = float(value) / 10_000.0
    return out


def _translated(row: dict, L) -> dict:
    return {**row, "verdict": L.value(row.get("verdict")), "severity": L.value(row.get("severity"))}


def _text(ws, value):
    """A text cell's value: plain (fast) unless it would be taken for a formula."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = value if isinstance(value, str) else str(value)
    return _styled_text(ws, value) if value.startswith("=") else value


def _styled_text(ws, value, bold: bool = False):
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    text = None if missing else str(value)
    cell = WriteOnlyCell(ws, value=text)
    if isinstance(text, str) and text.startswith("="):
        cell.data_type = "s"  # data, never a formula (openpyxl writes "=..." as one)
    if bold:
        cell.font = Font(bold=True)
    return cell


def _cell(ws, value, kind: str, bold: bool = False):
    if isinstance(value, float) and math.isnan(value):
        value = None
    if kind == "date" and isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            kind = "text"
    if kind == "text":
        return _styled_text(ws, value, bold) if bold else _text(ws, value)
    if kind == "int" and value is not None:
        value = int(value)
    elif kind in ("ha", "m", "share") and value is not None:
        value = float(value)
    cell = WriteOnlyCell(ws, value=None if value == "" else value)
    cell.number_format = FORMATS[kind]
    if bold:
        cell.font = Font(bold=True)
    return cell


def _header(ws, texts: list[str]) -> list:
    cells = []
    for text in texts:
        cell = WriteOnlyCell(ws, value=text)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cells.append(cell)
    return cells


def _sheet(wb: Workbook, title: str, L, columns: list[Column], records) -> None:
    """One table: a header row naming the columns, frozen; autofilter; widths from the content."""
    ws = wb.create_sheet(title=title[:31])
    headers = [L(c.key) for c in columns]
    widths = [min(max(len(h) * 0.75, 8), 28) for h in headers]
    ws.freeze_panes = "A2"
    body = []
    for record in records:
        row = []
        for i, c in enumerate(columns):
            value = record.get(c.source)
            # Text needs no style: a plain value is written several times faster than a styled cell.
            row.append(_text(ws, value) if c.kind == "text" else _cell(ws, value, c.kind))
            widths[i] = max(widths[i], _display_width(value, c.kind))
        body.append(row)
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(w + 2, MAX_WIDTH)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(body) + 1, 2)}"
    ws.append(_header(ws, headers))
    for row in body:
        ws.append(row)


def _display_width(value, kind: str) -> float:
    if value is None:
        return 0
    if kind == "ha":
        return len(f"{float(value):,.{ha_decimals(float(value))}f}")
    if kind == "m":
        return len(f"{float(value):,.1f}")
    if kind == "date":
        return 10
    if kind in ("int", "share"):
        return len(f"{value:,}") if kind == "int" else 6
    return len(str(value))


def _method_sheet(wb: Workbook, data: ReportData) -> None:
    L = data.labels
    ws = wb.create_sheet(title=L("sheet_method")[:31])
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 90
    for col in "CDEFG":
        ws.column_dimensions[col].width = 22
    ws.freeze_panes = "A2"
    ws.append(_header(ws, [L("m_item"), L("m_value")]))
    m = data.methodology
    numbers = {L("m_rules_count"): (m["rules_count"], "int"), L("m_min_area"): (m["min_area_m2"], "m")}
    for key, value in method_items(data):
        value, kind = numbers.get(key, (value, "text"))  # figures stay numbers a spreadsheet can add
        ws.append([_cell(ws, key, "text", bold=True), _cell(ws, value, kind)])
    t = data.totals
    figures = [
        ("conflict_pieces", t.get("conflict_pieces", 0), "int"),
        ("conflict_area", t.get("conflict_area_m2", 0) / 10_000.0, "ha"),
        ("conflict_length", t.get("conflict_length_m", 0), "m"),
        ("conflict_points", t.get("conflict_points", 0), "int"),
        ("conditional_pieces", t.get("conditional_pieces", 0), "int"),
        ("conditional_area", t.get("conditional_area_m2", 0) / 10_000.0, "ha"),
        ("conditional_length", t.get("conditional_length_m", 0), "m"),
    ]
    ws.append([])
    for key, value, kind in figures:
        ws.append([_cell(ws, L(key), "text", bold=True), _cell(ws, value, kind)])
    ws.append([])
    ws.append([_cell(ws, L("m_how"), "text")])
    ws.append([])
    ws.append([_cell(ws, L("h_rules_table"), "text", bold=True)])
    keys = ["rule_id", "plan_code", "master_code", "verdict", "severity", "reference", "note"]
    ws.append(_header(ws, [L(k) for k in keys]))
    for rule in data.rules:
        rule = _translated(rule, L)
        ws.append([_cell(ws, rule.get(k, ""), "text") for k in keys])
