"""The register's files (CONTRACT §7): register.json, .xlsx, .html and .pdf, Vietnamese by default.

Presenters only: every status and figure comes from kgspatial.register.build_register.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jinja2
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from ..numfmt import XLSX_HECTARES, hectares
from ..register import public_list, to_adjust
from .html import _template_source
from .pdf import _local_only_fetcher, _weasyprint

FORMATS = ("json", "xlsx", "html", "pdf")

_LEGAL = {
    "vi": {
        "abolished": "Bãi bỏ",
        "superseded": "Được thay thế",
        "expired": "Hết hiệu lực",
        "past_horizon": "Hết thời kỳ quy hoạch",
        "draft": "Dự thảo",
        "in_force": "Còn hiệu lực",
    },
    "en": {
        "abolished": "Abolished",
        "superseded": "Superseded",
        "expired": "Expired",
        "past_horizon": "Past its horizon",
        "draft": "Draft",
        "in_force": "In force",
    },
}
_REVIEW = {
    "vi": {
        "consistent": "Thống nhất",
        "needs_adjustment": "Cần điều chỉnh",
        "failed": "Không kiểm tra được",
        "outdated": "Kết quả đã cũ",
        "not_checked": "Chưa kiểm tra",
        "not_required": "Không yêu cầu",
    },
    "en": {
        "consistent": "Consistent",
        "needs_adjustment": "Needs adjustment",
        "failed": "Check failed",
        "outdated": "Outdated",
        "not_checked": "Not checked",
        "not_required": "Not required",
    },
}
_TEXT = {
    "vi": dict(
        title="Sổ theo dõi quy hoạch",
        on="tình trạng ngày",
        totals="Tổng hợp",
        overdue_count="Quá hạn rà soát",
        public="Danh mục quy hoạch hết hiệu lực, bị bãi bỏ (công bố công khai)",
        adjust="Quy hoạch phải rà soát, điều chỉnh",
        all="Toàn bộ quy hoạch",
        no="STT",
        id="Mã",
        name="Tên quy hoạch",
        decision="Số quyết định",
        approved="Ngày phê duyệt",
        authority="Cơ quan phê duyệt",
        status="Tình trạng pháp lý",
        basis="Căn cứ",
        since="Từ ngày",
        review="Tình trạng rà soát",
        conflicts="Số mâu thuẫn",
        area="Diện tích mâu thuẫn (ha)",
        due="Hạn rà soát",
        overdue="Quá hạn",
        yes="Quá hạn",
        none="Không có.",
        sheet_all="Sổ quy hoạch",
        sheet_public="Danh mục công bố",
        sheet_adjust="Cần điều chỉnh",
        sheet_overdue="Quá hạn",
    ),
    "en": dict(
        title="Plan register",
        on="status on",
        totals="Totals",
        overdue_count="Overdue reviews",
        public="Plans expired or abolished (public list)",
        adjust="Plans to review and adjust",
        all="All plans",
        no="No.",
        id="Id",
        name="Plan",
        decision="Decision",
        approved="Approved",
        authority="Authority",
        status="Legal status",
        basis="Legal basis",
        since="Since",
        review="Review status",
        conflicts="Conflicts",
        area="Conflict area (ha)",
        due="Review due",
        overdue="Overdue",
        yes="Overdue",
        none="None.",
        sheet_all="Register",
        sheet_public="Public list",
        sheet_adjust="To adjust",
        sheet_overdue="Overdue",
    ),
}


class _Labels(dict):
    __getattr__ = dict.__getitem__


def _labels(english: bool) -> _Labels:
    lang = "en" if english else "vi"
    return _Labels(_TEXT[lang], legal=_LEGAL[lang], review_status=_REVIEW[lang])


def _date(value) -> str:
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%d/%m/%Y") if isinstance(value, dt.date) else ""


def register_summary(register: dict, english: bool = False) -> dict:
    """What the province report shows of the register: counts by status and the public list."""
    L = _labels(english)
    counts = register["counts"]
    return {
        "title": f"{L.title} ({L.on} {_date(register['on'])})",
        "groups": [
            (L.status, [(L.legal[s], n) for s, n in counts["legal_status"].items() if n]),
            (L.review, [(L.review_status[s], n) for s, n in counts["review_status"].items() if n]),
        ],
        "overdue": (L.overdue_count, counts["overdue"]),
        "public_title": L.public,
        "public": [
            (r["name"], r["decision"] or "", L.legal[r["legal_status"]], r["basis"]) for r in public_list(register)
        ],
        "none": L.none,
    }


def render_html(register: dict, english: bool = False, font_css: str = "", font_family: str = "sans-serif") -> str:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["date"] = _date
    env.filters["ha"] = lambda m2: hectares(m2, english, unit=False)
    return env.get_template("register.html.j2").render(
        register=register,
        public=public_list(register),
        adjust=to_adjust(register),
        L=_labels(english),
        english=english,
        on=_date(register["on"]),
        font_css=font_css,
        font_family=f'"{font_family}"',
    )


def write_xlsx(register: dict, path: Path, english: bool = False) -> None:
    L = _labels(english)
    wb = Workbook()
    wb.remove(wb.active)
    header_font, header_fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="13315C")
    columns = [
        ("id", L.id),
        ("name", L.name),
        ("decision", L.decision),
        ("approved", L.approved),
        ("authority", L.authority),
        ("legal_status", L.status),
        ("basis", L.basis),
        ("since", L.since),
        ("review_status", L.review),
        ("review_due", L.due),
        ("overdue", L.overdue),
        ("conflicts", L.conflicts),
        ("conflict_area_m2", L.area),
    ]
    sheets = [
        (L.sheet_all, register["plans"]),
        (L.sheet_public, public_list(register)),
        (L.sheet_adjust, to_adjust(register)),
        (L.sheet_overdue, [r for r in register["plans"] if r["overdue"]]),
    ]
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        ws.append([label for _, label in columns])
        for cell in ws[1]:
            cell.font, cell.fill = header_font, header_fill
        for row in rows:
            values = []
            for key, _ in columns:
                value = row.get(key)
                if key in {"approved", "since", "review_due"} and value:
                    value = dt.date.fromisoformat(value)
                elif key == "legal_status":
                    value = L.legal[value]
                elif key == "review_status":
                    value = L.review_status[value]
                elif key == "overdue":
                    value = L.yes if value else ""
                elif key == "conflict_area_m2" and value is not None:
                    value = round(value / 10_000.0, 4)
                values.append(value)
            ws.append(values)
            for cell, (key, _) in zip(ws[ws.max_row], columns):
                if key in {"approved", "since", "review_due"}:
                    cell.number_format = "DD/MM/YYYY"
                elif key == "conflict_area_m2":
                    cell.number_format = XLSX_HECTARES
        ws.freeze_panes = "A2"
        for letter, width in zip("ABCDEFGHIJKLM", (14, 40, 18, 12, 24, 18, 50, 12, 20, 12, 10, 10, 14)):
            ws.column_dimensions[letter].width = width
    wb.save(path)


def write_register_files(register: dict, out_dir: Path, formats=FORMATS, english: bool = False) -> list[Path]:
    """register.* into out_dir (the caller stages it, so a failure leaves nothing half-written)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if "json" in formats:
        path = out_dir / "register.json"
        path.write_text(json.dumps(register, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        written.append(path)
    if "xlsx" in formats:
        write_xlsx(register, out_dir / "register.xlsx", english)
        written.append(out_dir / "register.xlsx")
    if "html" in formats:
        (out_dir / "register.html").write_text(render_html(register, english), encoding="utf-8")
        written.append(out_dir / "register.html")
    if "pdf" in formats:
        import logging

        from .fonts import find_font

        weasyprint = _weasyprint()
        font = find_font()
        logging.getLogger("weasyprint").setLevel(logging.ERROR)
        html = render_html(register, english, font_css=font.css(), font_family=font.family)
        weasyprint.HTML(string=html, base_url=str(out_dir), url_fetcher=_local_only_fetcher(weasyprint)).write_pdf(
            str(out_dir / "register.pdf")
        )
        written.append(out_dir / "register.pdf")
    return written
