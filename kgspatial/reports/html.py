"""The HTML report: one self-contained file (styles inline, maps as data: URIs) that opens from a
USB stick on a PC with no network, and the same HTML is what WeasyPrint prints to PDF."""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources

import jinja2
from markupsafe import Markup, escape

from .. import numfmt
from . import figures
from .labels import nfc
from .model import ReportData, rules_listing, sort_rows

MAX_PIECES_IN_HTML = 300  # the XLSX lists every piece; the HTML stays readable
MAX_PIECES_IN_PDF = 150  # ~6 pages; WeasyPrint lays tables out slowly


def _number(value, decimals: int, english: bool) -> str:
    """Vietnamese writes 1.234,56; English 1,234.56 (kgspatial.numfmt)."""
    return numfmt.number(value, decimals, english)


@functools.lru_cache(maxsize=2)
def environment(english: bool) -> jinja2.Environment:
    loader = jinja2.FunctionLoader(_template_source)
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["ha"] = lambda m2: numfmt.hectares(m2, english, unit=False)
    env.filters["m"] = lambda m: _number(m, 1, english)
    env.filters["num"] = lambda v, d=2: _number(v, d, english)
    env.filters["int_"] = lambda v: _number(v or 0, 0, english)
    env.filters["date"] = lambda d: d.strftime("%d/%m/%Y") if isinstance(d, (dt.date, dt.datetime)) else (d or "")
    return env


def _template_source(name: str) -> str:
    return resources.files("kgspatial.reports").joinpath("templates", name).read_text(encoding="utf-8")


def build_maps(data: ReportData) -> list[dict]:
    """Overview PNGs as data: URIs: the whole run, then (province) one per plan with conflicts."""
    L = data.labels
    maps = []
    if data.scope == "plan":
        plan = data.plans[0]
        png = figures.overview_png(data)
        if png:
            maps.append({"uri": figures.data_uri(png), "caption": L("map_plan", plan=plan.name)})
        return maps
    png = figures.overview_png(data)
    if png:
        caption = L("map_province") if data.scope == "province" else L("map_check")
        maps.append({"uri": figures.data_uri(png), "caption": caption})
    if data.scope == "check" and len(data.plans) == 1:
        return maps
    for plan in data.plans:
        if plan.figures.get("conflict_pieces", 0) + plan.figures.get("conditional_pieces", 0) == 0:
            continue
        png = figures.overview_png(data, plan_id=plan.id, width_in=9.0, dpi=100)
        if png:
            maps.append({"uri": figures.data_uri(png), "caption": L("map_plan", plan=f"{plan.id} – {plan.name}")})
    return maps


def render(
    data: ReportData, font_css: str = "", maps: list[dict] | None = None, max_pieces: int = MAX_PIECES_IN_HTML
) -> str:
    """The report as one HTML string (NFC). `font_css` adds @font-face rules for the PDF."""
    L = data.labels
    env = environment(L.english)
    template = env.get_template("report.html.j2")
    rows = sort_rows(data.rows)
    rules, rules_cut = rules_listing(data)
    pieces = rows.head(max_pieces).fillna("").to_dict("records") if data.scope != "province" else []
    excepted = (
        sort_rows(data.excepted).fillna("").to_dict("records")
        if data.excepted is not None and len(data.excepted)
        else []
    )
    html = template.render(
        d=data,
        L=L,
        t=_TotalsView(data.totals),
        status=lambda p: _status(p, L),
        maps=build_maps(data) if maps is None else maps,
        pieces=pieces,
        method_items=method_items(data),
        font_css=Markup(font_css),
        rules=rules,
        rules_cut=rules_cut,
        excepted=excepted,
    )
    return nfc(html)


class _TotalsView(dict):
    """Totals as attributes in the template; a missing figure reads as 0."""

    def __getattr__(self, key):
        return self.get(key, 0)


def _status(plan, L) -> Markup:
    if plan.failed:
        cls, text = "status-failed", L("failed")
    elif plan.needs_adjustment:
        cls, text = "status-adjust", L("needs_adjustment")
    else:
        cls, text = "status-ok", L("consistent")
    return Markup(f'<span class="{cls}">{escape(text)}</span>')


def status_text(plan, L) -> str:
    return L("failed") if plan.failed else L("needs_adjustment") if plan.needs_adjustment else L("consistent")


_VI_OPERATION = (
    ("Inverse of ", "nghịch đảo của "),
    ("none (same CRS)", "không cần (cùng hệ tọa độ)"),
    ("conversion only (no datum change)", "chỉ đổi phép chiếu (cùng hệ quy chiếu)"),
    ("PROJ's choice per point among: ", "PROJ chọn theo từng điểm trong: "),
)


def _vi_operation(text: str) -> str:
    """The words around EPSG operation names in Vietnamese; the names themselves are EPSG's."""
    for english, vietnamese in _VI_OPERATION:
        text = text.replace(english, vietnamese)
    return text


def method_items(data: ReportData) -> list[tuple[str, str]]:
    """The methodology as (item, value) pairs, shared by the HTML/PDF and the XLSX."""
    L, m = data.labels, data.methodology
    items = [
        (L("m_software"), f"kgspatial {data.version}"),
        (L("m_date"), data.generated_at.strftime("%d/%m/%Y %H:%M") + f" ({L('vn_time')}, UTC+7)"),
        (L("m_profile"), m["profile"]),
        (L("m_crs"), m["analysis_crs"]),
        (L("m_transform"), f"'{m['official_transformation']}' (EPSG:6960)"),
        (
            L("m_transform_used"),
            "; ".join(m["transformations"] if L.english else map(_vi_operation, m["transformations"])),
        ),
        (L("m_rules"), m["rules_path"] + (f" (SHA-256 {m['rules_sha256'][:16]}…)" if m["rules_sha256"] else "")),
        (L("m_rules_count"), "" if m["rules_count"] is None else str(m["rules_count"])),
        (L("m_min_area"), "" if m["min_area_m2"] is None else _number(m["min_area_m2"], 1, L.english)),
        (L("m_master"), m["master"]),
        (L("m_admin"), m["admin"]),
        (L("m_admin_prev"), m["admin_previous"]),
    ]
    return [(k, v) for k, v in items if v]
