"""Projects and indicators in reports (CONTRACT §9): projects.xlsx, and the province report's
sections (HTML/PDF) and sheets (XLSX). Presenters only: every figure comes from
kgspatial.projects.ProjectsResult and kgspatial.indicators.IndicatorsResult as given.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .html import _number

NAMES = {
    "vi": {
        "siting": {
            "conflict": "Xung đột",
            "conditional": "Có điều kiện",
            "unreviewed": "Chưa có quy tắc",
            "consistent": "Phù hợp",
            "outside_master": "Ngoài quy hoạch tỉnh",
        },
        "schedule": {
            "overdue": "Chậm tiến độ (quá giai đoạn)",
            "late_start": "Chậm khởi động",
            "on_track": "Đúng tiến độ",
        },
        "status": {
            "proposed": "Đề xuất",
            "preparing": "Chuẩn bị đầu tư",
            "approved": "Đã phê duyệt",
            "under_construction": "Đang thi công",
            "completed": "Hoàn thành",
            "suspended": "Tạm dừng",
            "cancelled": "Hủy bỏ",
        },
        "funding": {
            "public": "Đầu tư công",
            "private": "Tư nhân",
            "ppp": "Đối tác công tư (PPP)",
            "oda": "ODA",
            "mixed": "Hỗn hợp",
        },
        "verdict": {"ok": "Đạt", "over": "Vượt", "under": "Thiếu"},
        "bound": {"max": "Tối đa", "min": "Tối thiểu", "target": "Mục tiêu"},
    },
    "en": {
        "siting": {
            "conflict": "Conflict",
            "conditional": "Conditional",
            "unreviewed": "Unreviewed",
            "consistent": "Consistent",
            "outside_master": "Outside the master plan",
        },
        "schedule": {"overdue": "Overdue", "late_start": "Late start", "on_track": "On track"},
        "status": {
            "proposed": "Proposed",
            "preparing": "Preparing",
            "approved": "Approved",
            "under_construction": "Under construction",
            "completed": "Completed",
            "suspended": "Suspended",
            "cancelled": "Cancelled",
        },
        "funding": {"public": "Public", "private": "Private", "ppp": "PPP", "oda": "ODA", "mixed": "Mixed"},
        "verdict": {"ok": "OK", "over": "Over", "under": "Under"},
        "bound": {"max": "Maximum", "min": "Minimum", "target": "Target"},
    },
}
TEXT = {
    "vi": dict(
        h_projects="Dự án đầu tư trọng điểm",
        on="tình trạng ngày",
        h_matrix="Số dự án và vốn theo giai đoạn, lĩnh vực, tình trạng",
        h_overdue="Dự án chậm tiến độ",
        h_not_reserved="Dự án chưa được bố trí quỹ đất trong quy hoạch còn hiệu lực",
        h_indicators="Chỉ tiêu sử dụng đất",
        id="Mã dự án",
        name="Tên dự án",
        code="Mã loại đất",
        sector="Lĩnh vực",
        phase="Giai đoạn",
        status="Tình trạng",
        capital="Vốn (tỷ đồng)",
        funding="Nguồn vốn",
        siting="Vị trí so với quy hoạch tỉnh",
        reserved_in="Bố trí trong quy hoạch",
        hazard="Rủi ro thiên tai",
        schedule="Tiến độ",
        count="Số dự án",
        kind="Loại hình học",
        area_ha="Diện tích (ha)",
        length_m="Chiều dài (m)",
        none="Không có.",
        totals="Tổng",
        unit_code="Mã đơn vị",
        unit_name="Đơn vị hành chính",
        target_ha="Chỉ tiêu (ha)",
        bound="Loại chỉ tiêu",
        tolerance_pct="Dung sai (%)",
        master_ha="Quy hoạch tỉnh (ha)",
        master_verdict="Đánh giá QH tỉnh",
        plans_ha="Quy hoạch còn hiệu lực (ha)",
        plans_verdict="Đánh giá QH còn hiệu lực",
        source="Nguồn",
        plans_cover="Diện tích QH còn hiệu lực phủ (ha)",
        sheet_projects="Dự án",
        sheet_matrix="Tổng hợp dự án",
        sheet_overdue="Chậm tiến độ",
        sheet_not_reserved="Chưa bố trí quỹ đất",
        sheet_indicators="Chỉ tiêu SDĐ",
        no_hazards="Chưa cấu hình lớp rủi ro thiên tai.",
        unclassified="(chưa phân loại)",
        in_force="Quy hoạch còn hiệu lực được xét",
    ),
    "en": dict(
        h_projects="Priority investment projects",
        on="status on",
        h_matrix="Projects and capital by phase, sector and status",
        h_overdue="Overdue projects",
        h_not_reserved="Projects not reserved in any plan in force",
        h_indicators="Land-use indicators",
        id="Project id",
        name="Project",
        code="Land-use code",
        sector="Sector",
        phase="Phase",
        status="Status",
        capital="Capital (billion VND)",
        funding="Funding",
        siting="Siting",
        reserved_in="Reserved in",
        hazard="Hazard",
        schedule="Schedule",
        count="Projects",
        kind="Geometry",
        area_ha="Area (ha)",
        length_m="Length (m)",
        none="None.",
        totals="Total",
        unit_code="Unit code",
        unit_name="Unit",
        target_ha="Target (ha)",
        bound="Bound",
        tolerance_pct="Tolerance (%)",
        master_ha="Master plan (ha)",
        master_verdict="Master plan verdict",
        plans_ha="Plans in force (ha)",
        plans_verdict="Plans in force verdict",
        source="Source",
        plans_cover="Covered by plans in force (ha)",
        sheet_projects="Projects",
        sheet_matrix="Projects summary",
        sheet_overdue="Overdue",
        sheet_not_reserved="Not reserved",
        sheet_indicators="Indicators",
        no_hazards="No hazard layers configured.",
        unclassified="(unclassified)",
        in_force="Plans in force considered",
    ),
}


def _lang(english: bool) -> str:
    return "en" if english else "vi"


def _hazard_text(band) -> str:
    from ..projects import hazard_text

    return hazard_text(band) or ""


def matrix(rows: list[dict]) -> list[dict]:
    """Counts and capital by phase × sector × status, in phase, sector, status order."""
    from ..projects import PHASES, STATUSES

    groups: dict[tuple, dict] = {}
    for r in rows:
        key = (r["phase"], r["sector"], r["status"])
        g = groups.setdefault(
            key, {"phase": r["phase"], "sector": r["sector"], "status": r["status"], "count": 0, "capital": 0.0}
        )
        g["count"] += 1
        g["capital"] += r["capital"] or 0.0
    order = {p: i for i, p in enumerate(PHASES)}
    return sorted(groups.values(), key=lambda g: (order[g["phase"]], g["sector"], STATUSES.index(g["status"])))


def overdue(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["schedule"] == "overdue"]


def not_reserved(rows: list[dict]) -> list[dict]:
    return [r for r in rows if not r["reserved_in"]]


def projects_section(result, english: bool = False) -> dict:
    """What the province report shows of the projects (HTML/PDF), text ready to print."""
    lang = _lang(english)
    T, N = TEXT[lang], NAMES[lang]

    def num(v, d=0):
        return _number(v, d, english)

    rows = result.rows
    counts = result.counts()
    return {
        "title": f"{T['h_projects']} ({T['on']} {result.on.strftime('%d/%m/%Y')})",
        "T": T,
        "summary": [
            (T["siting"], [(N["siting"][k], n) for k, n in counts["siting"].items() if n]),
            (T["schedule"], [(N["schedule"][k], n) for k, n in counts["schedule"].items() if n]),
        ],
        "totals": (counts["projects"], num(counts["capital"], 1)),
        "in_force": ", ".join(result.in_force) or T["none"],
        "hazards": None if result.hazards_configured else T["no_hazards"],
        "matrix": _with_subtotals(matrix(rows), T, N, num),
        "overdue": [
            (r["id"], r["name"], r.get("admin_name", ""), r["phase"], N["status"][r["status"]], num(r["capital"], 1))
            for r in overdue(rows)
        ],
        "not_reserved": [
            (
                r["id"],
                r["name"],
                r.get("admin_name", ""),
                r["code"],
                N["siting"][r["siting"]],
                ", ".join(f"{k} {v:.1%}" for k, v in r["reserved_share"].items()),
            )
            for r in not_reserved(rows)
        ],
        "projects": [
            (
                r["id"],
                r["name"],
                r["sector"],
                r["phase"],
                N["status"][r["status"]],
                num(r["capital"], 1),
                N["siting"][r["siting"]],
                ", ".join(r["reserved_in"]),
                _hazard_text(r["hazard"]),
                N["schedule"][r["schedule"]],
                r["siting"] == "conflict",
                r["schedule"] == "overdue",
            )
            for r in rows
        ],
    }


def _with_subtotals(groups: list[dict], T: dict, N: dict, num) -> list[tuple]:
    """The matrix rows for print, a total row after each phase: (phase, sector, status, n, capital, is_total)."""
    out, phase, n, capital = [], None, 0, 0.0
    for g in groups + [None]:
        if phase is not None and (g is None or g["phase"] != phase):
            out.append((phase, f"{T['totals']} {phase}", "", n, num(capital, 1), True))
            n, capital = 0, 0.0
        if g is None:
            break
        phase = g["phase"]
        n, capital = n + g["count"], capital + g["capital"]
        out.append(
            (
                g["phase"],
                g["sector"] or T["unclassified"],
                N["status"][g["status"]],
                g["count"],
                num(g["capital"], 1),
                False,
            )
        )
    return out


def indicators_section(result, english: bool = False) -> dict:
    lang = _lang(english)
    T, N = TEXT[lang], NAMES[lang]
    return {
        "title": T["h_indicators"] + f" ({T['on']} {result.on.strftime('%d/%m/%Y')})",
        "T": T,
        "rows": [
            (
                r["unit_code"],
                r["unit_name"],
                r["code"],
                N["bound"][r["bound"]],
                _number(r["target_ha"], 2, english),
                "" if r["tolerance_pct"] is None else _number(r["tolerance_pct"], 1, english),
                _number(r["master_ha"], 2, english),
                r["master_verdict"],
                N["verdict"][r["master_verdict"]],
                _number(r["plans_ha"], 2, english),
                r["plans_verdict"],
                N["verdict"][r["plans_verdict"]],
                r["source"],
            )
            for r in result.rows
        ],
    }


# ---------------------------------------------------------------- XLSX

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="13315C")
MARK_FILL = {"over": PatternFill("solid", fgColor="F8CBAD"), "under": PatternFill("solid", fgColor="FFE699")}


def _sheet(
    wb: Workbook,
    title: str,
    headers: list[str],
    rows: list[list],
    formats: dict[int, str] | None = None,
    marks: list[dict[int, str]] | None = None,
) -> None:
    ws = wb.create_sheet(title=title[:31])
    ws.freeze_panes = "A2"
    for i, h in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(len(h) + 2, 10), 40)
    header = []
    for text in headers:
        cell = WriteOnlyCell(ws, value=text)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        header.append(cell)
    ws.append(header)
    for n, row in enumerate(rows):
        cells = []
        for i, value in enumerate(row):
            cell = WriteOnlyCell(ws, value=value)
            if formats and i in formats and isinstance(value, (int, float)):
                cell.number_format = formats[i]
            mark = (marks[n] if marks else {}).get(i)
            if mark in MARK_FILL:
                cell.fill = MARK_FILL[mark]
            cells.append(cell)
        ws.append(cells)


def add_projects_sheets(wb: Workbook, result, english: bool = False) -> None:
    """One row per project; counts and capital by phase × sector × status; overdue; not reserved."""
    lang = _lang(english)
    T, N = TEXT[lang], NAMES[lang]
    cols = [
        "id",
        "name",
        "code",
        "sector",
        "phase",
        "status",
        "capital",
        "funding",
        "siting",
        "reserved_in",
        "hazard",
        "schedule",
        "kind",
        "area_ha",
        "length_m",
        "unit_code",
        "unit_name",
    ]
    rows = [
        [
            r["id"],
            r["name"],
            r["code"],
            r["sector"],
            r["phase"],
            N["status"][r["status"]],
            r["capital"],
            N["funding"].get(r["funding"], "") if r["funding"] else "",
            N["siting"][r["siting"]],
            ", ".join(r["reserved_in"]),
            _hazard_text(r["hazard"]),
            N["schedule"][r["schedule"]],
            r["kind"],
            round(r["area_m2"] / 1e4, 4) if r["area_m2"] else None,
            r["length_m"] or None,
            r.get("admin_code", ""),
            r.get("admin_name", ""),
        ]
        for r in result.rows
    ]
    _sheet(wb, T["sheet_projects"], [T[c] for c in cols], rows, {6: "#,##0.0", 13: "#,##0.0000", 14: "#,##0.0"})
    _sheet(
        wb,
        T["sheet_matrix"],
        [T["phase"], T["sector"], T["status"], T["count"], T["capital"]],
        [
            [g["phase"], g["sector"] or T["unclassified"], N["status"][g["status"]], g["count"], round(g["capital"], 3)]
            for g in matrix(result.rows)
        ],
        {4: "#,##0.0"},
    )
    _sheet(
        wb,
        T["sheet_overdue"],
        [T["id"], T["name"], T["sector"], T["phase"], T["status"], T["capital"], T["unit_name"]],
        [
            [
                r["id"],
                r["name"],
                r["sector"],
                r["phase"],
                N["status"][r["status"]],
                r["capital"],
                r.get("admin_name", ""),
            ]
            for r in overdue(result.rows)
        ],
        {5: "#,##0.0"},
    )
    _sheet(
        wb,
        T["sheet_not_reserved"],
        [T["id"], T["name"], T["code"], T["siting"], T["reserved_in"], T["unit_name"]],
        [
            [
                r["id"],
                r["name"],
                r["code"],
                N["siting"][r["siting"]],
                ", ".join(f"{k} {v:.1%}" for k, v in r["reserved_share"].items()),
                r.get("admin_name", ""),
            ]
            for r in not_reserved(result.rows)
        ],
    )


def add_indicator_sheet(wb: Workbook, result, english: bool = False) -> None:
    """The indicator table, over and under marked (coloured cells beside the words)."""
    lang = _lang(english)
    T, N = TEXT[lang], NAMES[lang]
    headers = [
        T[k]
        for k in (
            "unit_code",
            "unit_name",
            "code",
            "bound",
            "target_ha",
            "tolerance_pct",
            "master_ha",
            "master_verdict",
            "plans_ha",
            "plans_verdict",
            "plans_cover",
            "source",
        )
    ]
    rows, marks = [], []
    for r in result.rows:
        rows.append(
            [
                r["unit_code"],
                r["unit_name"],
                r["code"],
                N["bound"][r["bound"]],
                r["target_ha"],
                r["tolerance_pct"],
                r["master_ha"],
                N["verdict"][r["master_verdict"]],
                r["plans_ha"],
                N["verdict"][r["plans_verdict"]],
                r["plans_cover_ha"],
                r["source"],
            ]
        )
        marks.append({6: r["master_verdict"], 7: r["master_verdict"], 8: r["plans_verdict"], 9: r["plans_verdict"]})
    _sheet(
        wb,
        T["sheet_indicators"],
        headers,
        rows,
        {4: "#,##0.00", 6: "#,##0.0000", 8: "#,##0.0000", 10: "#,##0.0000"},
        marks,
    )


def write_projects_xlsx(result, path: Path, english: bool = False) -> None:
    wb = Workbook(write_only=True)
    add_projects_sheets(wb, result, english)
    wb.save(path)
