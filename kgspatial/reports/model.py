"""What a report shows, gathered from a check or a batch result into plain data.

The HTML/PDF and XLSX writers both render a `ReportData`, so the figures of the three formats are
the same by construction. Nothing here re-runs the analysis: figures come from the summary as
given, and the only arithmetic is adding conflict rows up per plan, plan type and commune.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import __version__
from ..exceptions import open_rows
from .labels import Labels

VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")  # Vietnam: UTC+7, no daylight saving
OFFICIAL_TRANSFORMATION = "VN-2000 to WGS 84 (2)"  # pinned by kgspatial.crs (EPSG:6960)
ROW_COLUMNS = [
    "conflict_id",
    "plan_id",
    "against",
    "plan_feature",
    "rule_id",
    "verdict",
    "severity",
    "kind",
    "plan_code",
    "plan_label",
    "master_code",
    "master_label",
    "master_feature",
    "area_m2",
    "length_m",
    "share",
    "admin_code",
    "admin_name",
    "admin_prev_code",
    "admin_prev_name",
    "reference",
    "review",
    "review_decision",
]
VERDICTS = ("conflict", "conditional")
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
FIGURE_KEYS = [f"{v}_{k}" for v in VERDICTS for k in ("pieces", "area_m2", "length_m", "points")]


@dataclass
class PlanFigures:
    """One plan as the plans table shows it."""

    id: str
    name: str
    type: str = ""
    decision: str = ""
    approved: dt.date | None = None
    authority: str = ""
    status: str = "checked"  # checked | failed | unchanged
    reason: str = ""
    path: str = ""
    report_href: str = ""  # relative link to the plan's own report (province report)
    figures: dict = field(default_factory=dict)  # conflict_/conditional_ pieces, area_m2, length_m, points

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def needs_adjustment(self) -> bool:
        return not self.failed and self.figures.get("conflict_pieces", 0) > 0


@dataclass
class ReportData:
    scope: str  # check | province | plan
    labels: Labels
    title: str
    generated_at: dt.datetime
    version: str
    province: str
    plans: list[PlanFigures]
    rows: pd.DataFrame  # open conflict rows without geometry, ROW_COLUMNS that exist, plus area_ha
    pieces: gpd.GeoSeries  # the conflict geometries, same order as rows
    totals: dict
    by_severity: list[dict]
    by_rule: list[dict]
    by_plan_type: list[dict]
    by_admin: list[dict]
    by_admin_prev: list[dict]
    unreviewed: list[dict]
    methodology: dict
    rules: list[dict]  # the rules listed in the methodology (see rules_listing)
    warnings: list[str]
    master: Any = None  # PreparedLayer, for maps
    taxonomy: Any = None
    plan_layers: list = field(default_factory=list)  # PreparedLayer outlines when known
    registry: str = ""
    rules_total: int = 0  # rules in the whole table (the XLSX lists them all)
    register: dict | None = None  # the register's summary on the run's day (province reports)
    excepted: pd.DataFrame | None = None  # rows a decision accepted (CONTRACT §10), shown apart
    registered: bool = False  # a check's plans are named as a registry names them (the service's)
    projects: dict | None = None  # reports.projects.projects_section (its "result" for the XLSX)
    indicators: dict | None = None  # reports.projects.indicators_section
    hazards: list = field(default_factory=list)  # a section per hazard (reports/hazards.py), CONTRACT §8

    @property
    def has_admin(self) -> bool:
        return "admin_code" in self.rows.columns

    @property
    def has_admin_prev(self) -> bool:
        return "admin_prev_code" in self.rows.columns

    @property
    def has_parents(self) -> bool:
        """Whether any row was found against a parent plan (CONTRACT §7), not the master plan."""
        frames = [f for f in (self.rows, self.excepted) if f is not None and "against" in f.columns]
        return any((f["against"].fillna("master") != "master").any() for f in frames)

    @property
    def by_against(self) -> list[dict]:
        """The open rows added up per plan checked against: the master plan, then each parent."""
        if "against" not in self.rows.columns or self.rows.empty:
            return []
        keyed = self.rows.assign(_against=self.rows["against"].fillna("master").astype(str))
        order = sorted(keyed["_against"].unique(), key=lambda a: (a != "master", a))
        return [{"against": a, **_figures(keyed[keyed["_against"] == a])} for a in order]

    @property
    def needs_adjustment(self) -> list[PlanFigures]:
        return sorted(
            (p for p in self.plans if p.needs_adjustment),
            key=lambda p: (-p.figures["conflict_area_m2"], -p.figures["conflict_length_m"], p.id),
        )

    @property
    def failed(self) -> list[PlanFigures]:
        return [p for p in self.plans if p.failed]


# ---------------------------------------------------------------- builders


def from_check(result, english: bool = False, known: Mapping[str, Mapping] | None = None) -> ReportData:
    """A `kgspatial check` result (one or more plans, no register); `known` gives a plan id the
    name, type and path its user knows it by, and the decision, approval date and authority
    when it is registered (the service's plans)."""
    summary = result.summary
    rows, pieces, excepted = _rows(result.conflicts)
    plans = []
    inputs = (summary.get("inputs") or {}).get("plans") or []
    for i, part in enumerate(summary.get("by_plan") or []):
        pid = str(part["plan_id"])
        path = str(inputs[i].get("path", "")) if i < len(inputs) else ""
        about = (known or {}).get(pid) or {}
        plans.append(
            PlanFigures(
                id=pid,
                name=str(about.get("name") or pid),
                type=str(about.get("type") or ""),
                decision=str(about.get("decision") or ""),
                approved=_date(about.get("approved")),
                authority=str(about.get("authority") or ""),
                path=str(about.get("path") or path),
                figures=_figures(rows[rows["plan_id"] == pid]),
            )
        )
    labels = Labels(english)
    title = labels("title_check") + (f": {plans[0].name}" if len(plans) == 1 else "")
    data = _assemble(
        "check",
        labels,
        title,
        summary,
        rows,
        pieces,
        plans,
        result,
        plan_layers=list(result.plans or []),
        excepted=excepted,
    )
    data.registered = bool(plans) and all("decision" in ((known or {}).get(p.id) or {}) for p in plans)
    data.hazards = _hazard_sections(getattr(result, "hazards", None), result, labels, plans)
    return data


def _hazard_sections(hazards, source, labels, plans, plan_id=None) -> list:
    if hazards is None:
        return []
    from .hazards import sections

    return sections(hazards, getattr(source, "taxonomy", None), labels.lang, plans, plan_id)


def from_batch(batch, english: bool = False) -> ReportData:
    """The province report of a batch run: every registered plan, failed ones included."""
    rows, pieces, excepted = _rows(batch.conflicts)
    plans = []
    for rec in batch.plans:
        sub = rows[rows["plan_id"] == rec.id] if len(rows) else rows
        plans.append(_plan_from_record(rec, sub, href=f"{rec.id}/report.html"))
    labels = Labels(english)
    data = _assemble(
        "province", labels, labels("title_province"), batch.summary, rows, pieces, plans, batch, excepted=excepted
    )
    data.province = _province_name(batch)
    data.registry = str(batch.registry_path or "")
    data.hazards = _hazard_sections(getattr(batch, "hazards", None), batch, labels, plans)
    if getattr(batch, "register", None):
        from .register import register_summary

        data.register = register_summary(batch.register, english)
    if getattr(batch, "projects", None) is not None or getattr(batch, "indicators", None) is not None:
        from .projects import indicators_section, projects_section

        if batch.projects is not None:
            data.projects = {**projects_section(batch.projects, english), "result": batch.projects}
        if batch.indicators is not None:
            data.indicators = {**indicators_section(batch.indicators, english), "result": batch.indicators}
    return data


def from_plan(record, batch, english: bool = False) -> ReportData:
    """One plan of a batch run, with its register entry (decision, authority, approval date)."""
    frame = record.conflicts
    if frame is None:
        frame = _empty_conflicts(batch)
    rows, pieces, excepted = _rows(frame)
    plan = _plan_from_record(record, rows)
    summary = dict(record.summary or {})
    # A failed plan has no summary of its own: the methodology still comes from the run.
    for key in (
        "kgspatial_version",
        "generated_at",
        "profile",
        "analysis_crs",
        "transformations",
        "rules",
        "min_area_m2",
    ):
        if key not in summary and _meta(batch.summary or {}, key) is not None:
            summary[key] = _meta(batch.summary or {}, key)
    labels = Labels(english)
    title = f"{labels('title_plan')}: {record.name or record.id}"
    data = _assemble("plan", labels, title, summary, rows, pieces, [plan], batch, excepted=excepted)
    data.province = _province_name(batch)
    data.hazards = _hazard_sections(getattr(batch, "hazards", None), batch, labels, [plan], plan_id=record.id)
    if not summary.get("unreviewed"):
        data.unreviewed = [u for u in _meta(batch.summary or {}, "unreviewed") or [] if u.get("plan_id") == record.id]
        data.unreviewed = _unreviewed(data.unreviewed, batch.taxonomy, labels)
    return data


# ---------------------------------------------------------------- helpers


def _province_name(batch) -> str:
    """The province's title (e.g. "Kiên Giang") when the batch summary gives it, else its profile's."""
    return province_title((batch.summary or {}).get("province_title"), batch.province)


_PROVINCE_WORD = re.compile(r"^(tỉnh|province)\s+", re.IGNORECASE)


def province_title(title: str | None, profile: str | None) -> str:
    """What the header shows after "Tỉnh / Province:": the profile's human title, not its id.

    "kien-giang" is a folder name under layers/; readers want "Kiên Giang (nay thuộc tỉnh An Giang)".
    The title's own leading "Tỉnh" is dropped since the label already says it.
    """
    if not title and profile:
        from ..errors import KgSpatialError
        from ..profile import load_profile

        try:
            title = load_profile(str(profile)).title
        except KgSpatialError:  # a profile no longer installed: its id is all there is
            title = None
    text = unicodedata.normalize("NFC", str(title or profile or "")).strip()
    return _PROVINCE_WORD.sub("", text) or text


def _assemble(
    scope, labels, title, summary, rows, pieces, plans, source, plan_layers=None, excepted=None
) -> ReportData:
    taxonomy = getattr(source, "taxonomy", None)
    rules_table = getattr(source, "rules", None)
    totals = _totals(summary, rows)
    all_rules = _named(_rules_list(rules_table, summary), taxonomy, labels)
    return ReportData(
        scope=scope,
        labels=labels,
        title=title,
        generated_at=_when(_meta(summary, "generated_at")),
        version=str(_meta(summary, "kgspatial_version") or __version__),
        province=province_title(None, _meta(summary, "profile")),
        plans=plans,
        rows=rows,
        pieces=pieces,
        totals=totals,
        by_severity=sorted(
            _meta(summary, "by_severity") or [],
            key=lambda r: (
                VERDICTS.index(r["verdict"]) if r.get("verdict") in VERDICTS else 9,
                SEVERITY_ORDER.get(r.get("severity"), 9),
            ),
        ),
        by_rule=_named(_meta(summary, "by_rule") or [], taxonomy, labels),
        by_plan_type=_by_plan_type(plans, labels) if scope == "province" else [],
        by_admin=_by_unit(rows, "admin_code", "admin_name"),
        by_admin_prev=_by_unit(rows, "admin_prev_code", "admin_prev_name"),
        unreviewed=_unreviewed(_meta(summary, "unreviewed") or [], taxonomy, labels),
        methodology=_methodology(summary),
        rules=all_rules,
        warnings=[str(w) for w in (_meta(summary, "warnings") or [])],
        master=getattr(source, "master", None),
        taxonomy=taxonomy,
        plan_layers=plan_layers or [],
        rules_total=len(all_rules),
        excepted=excepted,
    )


def _meta(summary: dict, key: str):
    """A summary key, at the top or under "methodology" (the batch summary groups them there)."""
    if key in summary:
        return summary[key]
    method = summary.get("methodology")
    if isinstance(method, dict):
        return method.get(key)
    return None


def _empty_conflicts(batch) -> gpd.GeoDataFrame:
    crs = getattr(getattr(batch, "conflicts", None), "crs", None)
    return gpd.GeoDataFrame(
        {
            c: pd.Series(dtype="float64" if c in ("area_m2", "length_m", "share") else object)
            for c in ROW_COLUMNS[:-5] + ["reference"]
        },
        geometry=gpd.GeoSeries([], crs=crs),
    )


def _rows(frame: gpd.GeoDataFrame | None) -> tuple[pd.DataFrame, gpd.GeoSeries, pd.DataFrame]:
    """Open conflict rows in report column order, as given, their geometries, and the rows a
    decision excepted (CONTRACT §10: shown apart, counted nowhere else); only `area_ha` is added
    (m² / 10,000)."""
    if frame is None:
        frame = _empty_conflicts(None)
    frame = frame.reset_index(drop=True)
    cols = [c for c in ROW_COLUMNS if c in frame.columns]
    rows = pd.DataFrame(frame[cols]).copy()
    for c in ("area_m2", "length_m", "share"):
        if c in rows:
            rows[c] = pd.to_numeric(rows[c]).astype(float)
    if "area_m2" in rows:
        rows.insert(rows.columns.get_loc("area_m2"), "area_ha", rows["area_m2"] / 10_000.0)
    geometry = frame.geometry if "geometry" in frame else gpd.GeoSeries([None] * len(frame))
    is_open = open_rows(rows)
    excepted = rows[~is_open].reset_index(drop=True)
    if is_open.all():
        return rows, geometry, excepted
    return rows[is_open].reset_index(drop=True), geometry[is_open].reset_index(drop=True), excepted


def _figures(rows: pd.DataFrame) -> dict:
    """Pieces, area, length and points per verdict: the conflict rows added up."""
    out = {}
    for verdict in VERDICTS:
        sub = rows[rows["verdict"] == verdict] if len(rows) else rows
        out[f"{verdict}_pieces"] = int(len(sub))
        out[f"{verdict}_area_m2"] = float(sub["area_m2"].sum()) if len(sub) else 0.0
        out[f"{verdict}_length_m"] = float(sub["length_m"].sum()) if len(sub) else 0.0
        out[f"{verdict}_points"] = int((sub["kind"] == "point").sum()) if len(sub) else 0
    return out


def _totals(summary: dict, rows: pd.DataFrame) -> dict:
    given = _meta(summary, "totals")
    if isinstance(given, dict) and "conflict_area_m2" in given:
        totals = dict(given)
        totals.setdefault("conflict_rows", len(rows))
        return totals
    return {"conflict_rows": int(len(rows)), **_figures(rows), "slivers": {"count": 0, "area_m2": 0.0}}


def _date(value) -> dt.date | None:
    """A date, or its ISO text as JSON records keep it."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, dt.date) else None


def _plan_from_record(rec, rows: pd.DataFrame, href: str = "") -> PlanFigures:
    approved = _date(rec.approved)
    return PlanFigures(
        id=str(rec.id),
        name=str(rec.name or rec.id),
        type=str(rec.type or ""),
        decision=str(rec.decision or ""),
        approved=approved,
        authority=str(rec.authority or ""),
        status=str(rec.status or "checked"),
        reason=str(rec.reason or ""),
        path=str(rec.path or ""),
        report_href=href if rec.status != "failed" else "",
        figures=_figures(rows),
    )


def _by_plan_type(plans: list[PlanFigures], labels: Labels) -> list[dict]:
    out: dict[str, dict] = {}
    for p in plans:
        entry = out.setdefault(
            p.type,
            {
                "type": p.type,
                "type_label": labels.plan_type(p.type),
                "plans": 0,
                "adjust": 0,
                "failed": 0,
                **{k: 0 for k in FIGURE_KEYS},
            },
        )
        entry["plans"] += 1
        entry["adjust"] += int(p.needs_adjustment)
        entry["failed"] += int(p.failed)
        for k, v in p.figures.items():
            entry[k] += v
    return [out[k] for k in sorted(out)]


def _by_unit(rows: pd.DataFrame, code_col: str, name_col: str) -> list[dict]:
    """Conflict rows added up per administrative unit and verdict."""
    if code_col not in rows.columns or rows.empty:
        return []
    keyed = rows.assign(
        _code=rows[code_col].fillna("").astype(str),
        _name=rows[name_col].fillna("").astype(str) if name_col in rows else "",
    )
    out = []
    for (code, name), sub in keyed.groupby(["_code", "_name"], sort=True):
        out.append({"code": code, "name": name, **_figures(sub), "plans": int(sub["plan_id"].nunique())})
    return out


def _unreviewed(items: list[dict], taxonomy, labels: Labels) -> list[dict]:
    out = _named([dict(item) for item in items], taxonomy, labels)
    return sorted(
        out,
        key=lambda r: (
            -float(r.get("area_m2") or r.get("feature_area_m2") or 0),
            -float(r.get("length_m") or r.get("feature_length_m") or 0),
            str(r.get("plan_id", "")),
            str(r.get("plan_code")),
            str(r.get("master_code")),
        ),
    )


def _named(items: list[dict], taxonomy, labels: Labels) -> list[dict]:
    """Rows with the taxonomy names of their plan and master codes (groups included) added; a code
    that is missing (NaN/None: a value no taxonomy code matched) reads as empty text."""
    out = []
    for r in items:
        r = {k: ("" if _missing(v) else v) for k, v in r.items()}
        r["plan_name"] = code_name(taxonomy, str(r.get("plan_code") or ""), labels.lang)
        r["master_name"] = code_name(taxonomy, str(r.get("master_code") or ""), labels.lang)
        out.append(r)
    return out


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def code_name(taxonomy, code: str, lang: str) -> str:
    """The code's name in the report's language; empty for a code the taxonomy does not know."""
    if taxonomy is None or not code:
        return ""
    try:
        return taxonomy.name(code, lang)
    except (KeyError, ValueError):
        return ""


def _methodology(summary: dict) -> dict:
    inputs = _meta(summary, "inputs") or {}
    rules = _meta(summary, "rules") or {}
    return {
        "analysis_crs": str(_meta(summary, "analysis_crs") or ""),
        "official_transformation": OFFICIAL_TRANSFORMATION,
        "transformations": [str(t) for t in (_meta(summary, "transformations") or [])],
        "rules_path": str(rules.get("path", "")) if isinstance(rules, dict) else str(rules),
        "rules_sha256": str(rules.get("sha256", "")) if isinstance(rules, dict) else "",
        "rules_count": rules.get("count") if isinstance(rules, dict) else None,
        "min_area_m2": _meta(summary, "min_area_m2"),
        "profile": str(_meta(summary, "profile") or ""),
        "master": _input_label(inputs.get("master")),
        "admin": _input_label(inputs.get("admin")),
        "admin_previous": _input_label(inputs.get("admin_previous")),
    }


def _input_label(info) -> str:
    if not isinstance(info, dict):
        return ""
    parts = [str(info.get("path", ""))]
    if info.get("crs"):
        parts.append(str(info["crs"]))
    if info.get("code_field"):
        parts.append(f"{info['code_field']}")
    return " · ".join(p for p in parts if p)


def _rules_list(table, summary: dict) -> list[dict]:
    """The whole rules table when the result carries it; else the rules that matched (summary)."""
    if table is not None and getattr(table, "rules", None):
        return [
            {
                "rule_id": r.rule_id,
                "plan_code": r.plan_code,
                "master_code": r.master_code,
                "verdict": r.verdict,
                "severity": r.severity,
                "reference": r.reference,
                "note": r.note,
            }
            for r in table.rules
        ]
    return [
        {k: r.get(k, "") for k in ("rule_id", "plan_code", "master_code", "verdict", "severity", "reference", "note")}
        for r in (_meta(summary, "by_rule") or [])
    ]


def _when(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        stamp = value
    else:
        try:
            stamp = dt.datetime.fromisoformat(str(value))
        except (TypeError, ValueError):
            stamp = dt.datetime.now(dt.timezone.utc)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(VN_TZ)


def rules_listing(data: "ReportData", limit: int = 40) -> tuple[list[dict], bool]:
    """The rules the HTML/PDF lists: the whole table in the province report or when it is short;
    else only the rules that produced rows (a provincial table has hundreds; the XLSX lists all)."""
    if data.scope == "province" or len(data.rules) <= limit:
        return data.rules, False
    used = {r.get("rule_id") for r in data.by_rule}
    return [r for r in data.rules if r.get("rule_id") in used], True


def sort_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Conflicts first, then by severity, then largest piece: the order a reviewer reads them in."""
    if rows.empty:
        return rows
    key = pd.DataFrame(
        {
            "v": rows["verdict"].map(lambda v: VERDICTS.index(v) if v in VERDICTS else 9),
            "s": rows["severity"].map(lambda s: SEVERITY_ORDER.get(s, 9)),
            "a": -rows["area_m2"],
            "l": -rows["length_m"],
            "id": rows["conflict_id"],
        }
    )
    order = np.lexsort([key["id"], key["l"], key["a"], key["s"], key["v"]])
    return rows.iloc[order]
