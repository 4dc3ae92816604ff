"""Reports of a check or a batch run: self-contained HTML, XLSX and PDF, Vietnamese by default
(English headings and column names with `english=True`).

    write_check_reports(result, out_dir, ["html", "xlsx", "pdf"])        # kgspatial check --report
    write_province_reports(batch, out_dir, formats)                     # kgspatial batch: DIR/report.*
    write_plan_reports(record, batch, out_dir, formats)                 # DIR/<plan id>/report.*

Files are named report.html, report.xlsx and report.pdf. Presenters only: every figure comes from
the conflict rows and summaries given (see model.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import InputError
from . import model

FORMATS = ("html", "xlsx", "pdf")

__all__ = [
    "FORMATS",
    "write_check_reports",
    "write_hazard_reports",
    "write_plan_reports",
    "write_province_reports",
    "write_reports",
]


def write_check_reports(
    result, out_dir, formats: Iterable[str], english: bool = False, plans: Mapping[str, Mapping] | None = None
) -> list[Path]:
    """report.* for a `kgspatial check` result (CheckResult); `plans` maps a plan id to what the
    user knows it by (name, type, path: the web service's upload record)."""
    return write_reports(model.from_check(result, english, plans), out_dir, formats)


def write_province_reports(batch, out_dir, formats: Iterable[str], english: bool = False) -> list[Path]:
    """The province's report.* of a batch run (BatchResult): all plans, failed ones with their reason."""
    return write_reports(model.from_batch(batch, english), out_dir, formats)


def write_plan_reports(record, batch, out_dir, formats: Iterable[str], english: bool = False) -> list[Path]:
    """One registered plan's report.* (PlanRecord of a BatchResult), with its decision and authority."""
    return write_reports(model.from_plan(record, batch, english), out_dir, formats)


def write_hazard_reports(run, out_dir, formats: Iterable[str], english: bool = False) -> list[Path]:
    """report.* of `kgspatial hazards` (hazards.HazardRun): the hazard sections, no conflicts."""
    from types import SimpleNamespace

    import geopandas as gpd
    import pandas as pd

    from ..check import CONFLICT_COLUMNS

    crs = run.result.findings.crs
    none = gpd.GeoDataFrame(
        {c: pd.Series([], dtype=object) for c in CONFLICT_COLUMNS}, geometry=gpd.GeoSeries([], crs=crs)
    )
    for c in ("area_m2", "length_m", "share"):
        none[c] = none[c].astype(float)
    summary = {**run.summary, "by_plan": [{"plan_id": p.name} for p in run.plans]}
    shim = SimpleNamespace(
        summary=summary,
        conflicts=none,
        plans=run.plans,
        taxonomy=run.taxonomy,
        rules=None,
        master=None,
        hazards=run.result,
    )
    data = model.from_check(shim, english)
    data.title = data.labels("h_hazard") + ": " + ", ".join(p.name for p in run.plans[:3])
    return write_reports(data, out_dir, formats)


def write_reports(data: "model.ReportData", out_dir, formats: Iterable[str]) -> list[Path]:
    formats = _formats(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    maps = None
    if "html" in formats or "pdf" in formats:
        from .html import build_maps, render

        maps = build_maps(data)  # drawn once, embedded in both the HTML and the PDF
    if "pdf" in formats:
        from .fonts import find_font
        from .pdf import _weasyprint

        _weasyprint()  # fail before writing anything when WeasyPrint's libraries
        find_font()  # or a font with Vietnamese glyphs are missing
    if "html" in formats:
        path = out_dir / "report.html"
        path.write_text(render(data, maps=maps), encoding="utf-8")
        written.append(path)
    if "xlsx" in formats:
        from .xlsx import write_xlsx

        path = out_dir / "report.xlsx"
        write_xlsx(data, path)
        written.append(path)
    if "pdf" in formats:
        from .pdf import write_pdf

        path = out_dir / "report.pdf"
        write_pdf(data, path, maps=maps)
        written.append(path)
    return written


def _formats(formats: Iterable[str]) -> list[str]:
    if isinstance(formats, str):
        formats = formats.split(",")
    wanted = [f.strip().lower() for f in formats if f and f.strip()]
    bad = [f for f in wanted if f not in FORMATS]
    if bad:
        raise InputError(f"unknown report format(s) {', '.join(bad)}: use html, xlsx, pdf")
    return [f for f in FORMATS if f in wanted]
