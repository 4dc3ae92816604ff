"""Every word a report shows, in Vietnamese (default) and English, kept in one table.

The reports are read by provincial planning departments: Vietnamese is the default; English column
names and headings (`english=True`) serve donors, consultants and reviewers.
"""

from __future__ import annotations

import unicodedata

# key -> (Vietnamese, English)
TEXT: dict[str, tuple[str, str]] = {
    # titles and headings
    "title_check": ("Báo cáo kiểm tra sự phù hợp quy hoạch", "Planning consistency check report"),
    "title_province": ("Báo cáo rà soát các quy hoạch của tỉnh", "Province plan review report"),
    "title_plan": ("Báo cáo kiểm tra quy hoạch", "Plan check report"),
    "subtitle": (
        "đối chiếu với quy hoạch tỉnh (lớp quy hoạch sử dụng đất)",
        "against the provincial master plan (land-use layer)",
    ),
    "province": ("Tỉnh", "Province"),
    "registry": ("Danh mục quy hoạch", "Plan register"),
    "generated": ("Lập lúc", "Generated"),
    "vn_time": ("giờ Việt Nam", "Vietnam time"),
    "h_overview": ("Tổng quan", "Overview"),
    "h_plans": ("Danh sách quy hoạch", "Plans"),
    "h_adjust": ("Quy hoạch cần điều chỉnh", "Plans that need adjustment"),
    "h_failed": ("Quy hoạch không kiểm tra được", "Plans that could not be checked"),
    "h_severity": ("Tổng hợp theo mức độ", "By severity"),
    "h_rule": ("Tổng hợp theo quy tắc", "By rule"),
    "h_plan_type": ("Tổng hợp theo loại quy hoạch", "By plan type"),
    "h_admin": ("Tổng hợp theo xã, phường (đơn vị hành chính mới)", "By commune (current units)"),
    "h_admin_prev": ("Tổng hợp theo xã, phường cũ (trước sắp xếp 2025)", "By commune (previous units, before 2025)"),
    "h_maps": ("Bản đồ tổng quan", "Overview maps"),
    "h_pieces": ("Danh sách các mảnh xung đột", "Conflict pieces"),
    "h_unreviewed": ("Cặp mã chưa có quy tắc (chưa xét)", "Unreviewed code pairs (no rule)"),
    "h_method": ("Phương pháp", "Methodology"),
    "h_rules_table": ("Bảng quy tắc áp dụng", "Rules table applied"),
    "rules_cut": (
        "Liệt kê {shown} quy tắc đã áp dụng trong {total} quy tắc của bảng; đủ bảng trong tệp report.xlsx "
        "(trang Phương pháp).",
        "Listing the {shown} rules applied, of the {total} in the table; report.xlsx (sheet Methodology) "
        "lists them all.",
    ),
    "h_warnings": ("Cảnh báo", "Warnings"),
    "h_against": (
        "Tổng hợp theo quy hoạch đối chiếu (quy hoạch tỉnh, quy hoạch cấp trên)",
        "By plan checked against (master plan, parent plans)",
    ),
    "against": ("Đối chiếu với", "Checked against"),
    "master": ("Quy hoạch tỉnh", "Master plan"),
    "h_excepted": (
        "Xung đột đã được chấp thuận theo quyết định (ngoại lệ)",
        "Findings accepted by a decision (exceptions)",
    ),
    "excepted_note": (
        "Các mảnh dưới đây không tính vào số xung đột và không làm quy hoạch phải điều chỉnh "
        "khi quyết định còn hiệu lực.",
        "These pieces are not counted as conflicts and do not make a plan need adjustment while the decision runs.",
    ),
    "excepted_pieces": ("Số mảnh đã được chấp thuận", "Pieces accepted by a decision"),
    "review_decision": ("Quyết định chấp thuận", "Accepting decision"),
    "review": ("Xem xét", "Review"),
    "open": ("Chưa xử lý", "Open"),
    "excepted": ("Đã chấp thuận", "Excepted"),
    "h_plan_reports": ("Báo cáo từng quy hoạch", "Report of each plan"),
    "none_adjust": ("Không có quy hoạch nào cần điều chỉnh.", "No plan needs adjustment."),
    "none_conflicts": ("Không phát hiện xung đột.", "No conflict found."),
    "none_unreviewed": ("Mọi cặp mã đều đã có quy tắc.", "Every code pair is covered by a rule."),
    "none_map": ("Không có đối tượng để vẽ bản đồ.", "Nothing to draw."),
    "pieces_cut": (
        "Hiển thị {shown} trong {total} mảnh (nặng nhất, lớn nhất trước); đủ danh sách trong tệp report.xlsx.",
        "Showing {shown} of {total} pieces (most severe, largest first); report.xlsx lists them all.",
    ),
    "map_province": (
        "Toàn tỉnh: vùng quy hoạch tỉnh và các mảnh xung đột",
        "Whole province: master-plan zones and conflict pieces",
    ),
    "map_check": (
        "Vùng quy hoạch tỉnh, ranh giới quy hoạch kiểm tra và các mảnh xung đột",
        "Master-plan zones, the plans checked (outline) and conflict pieces",
    ),
    "map_plan": (
        "Quy hoạch {plan}: vùng quy hoạch tỉnh và các mảnh xung đột",
        "Plan {plan}: master-plan zones and conflict pieces",
    ),
    "map_note": (
        "Màu vùng theo màu chuẩn của mã đất; mảnh xung đột tô theo mức độ. Hệ tọa độ: {crs}.",
        "Zones in the official land-use colours; conflict pieces by severity. Coordinates: {crs}.",
    ),
    "legend_zones": ("Vùng quy hoạch tỉnh", "Master-plan zones"),
    "legend_conflicts": ("Mảnh xung đột", "Conflict pieces"),
    "legend_plan": ("Ranh giới quy hoạch kiểm tra", "Plan checked (outline)"),
    # figures
    "plans_checked": ("Số quy hoạch đã kiểm tra", "Plans checked"),
    "plans_adjust": ("Số quy hoạch cần điều chỉnh", "Plans needing adjustment"),
    "plans_failed": ("Số quy hoạch lỗi", "Plans failed"),
    "plans_total": ("Số quy hoạch", "Plans"),
    "conflict_pieces": ("Số mảnh xung đột", "Conflict pieces"),
    "conflict_area": ("Diện tích xung đột (ha)", "Conflict area (ha)"),
    "conflict_length": ("Chiều dài xung đột (m)", "Conflict length (m)"),
    "conflict_points": ("Số điểm xung đột", "Conflict points"),
    "conditional_pieces": ("Số mảnh có điều kiện", "Conditional pieces"),
    "conditional_area": ("Diện tích có điều kiện (ha)", "Conditional area (ha)"),
    "conditional_length": ("Chiều dài có điều kiện (m)", "Conditional length (m)"),
    "conditional_points": ("Số điểm có điều kiện", "Conditional points"),
    "slivers": ("Mảnh vụn bỏ qua (< {min_area} m²)", "Slivers not listed (< {min_area} m²)"),
    "pieces": ("Số mảnh", "Pieces"),
    "area_ha": ("Diện tích (ha)", "Area (ha)"),
    "length_m": ("Chiều dài (m)", "Length (m)"),
    "points": ("Số điểm", "Points"),
    "features": ("Số đối tượng", "Features"),
    "feature_area_ha": ("Diện tích các đối tượng liên quan (ha)", "Area of the plan features concerned (ha)"),
    "feature_length_m": ("Chiều dài các đối tượng liên quan (m)", "Length of the plan features concerned (m)"),
    "unreviewed_features_note": (
        "Số liệu là của toàn bộ các đối tượng quy hoạch có phần nằm trên vùng mang mã đó, không phải diện tích "
        "phần giao (chạy lại với --exact-unreviewed để đo phần giao).",
        "Figures are those of the whole plan features that lie partly on zones of that code, not of the overlap "
        "(run again with --exact-unreviewed to measure the overlap).",
    ),
    "unreviewed_exact_note": (
        "Diện tích và chiều dài phần giao được đo chính xác (--exact-unreviewed).",
        "The overlap's area and length are measured exactly (--exact-unreviewed).",
    ),
    "plans_n": ("Số quy hoạch", "Plans"),
    "plans_adjust_n": ("Cần điều chỉnh", "Need adjustment"),
    # plan columns
    "plan_id": ("Mã quy hoạch", "Plan id"),
    "plan_name": ("Tên quy hoạch", "Plan name"),
    "plan_type": ("Loại quy hoạch", "Plan type"),
    "decision": ("Số quyết định", "Decision no."),
    "approved": ("Ngày phê duyệt", "Approval date"),
    "authority": ("Cơ quan phê duyệt", "Approving authority"),
    "status": ("Kết luận", "Status"),
    "reason": ("Lý do lỗi", "Failure reason"),
    "path": ("Tệp dữ liệu", "Data file"),
    # conflict columns
    "conflict_id": ("Mã xung đột", "Conflict id"),
    "plan_feature": ("Đối tượng quy hoạch", "Plan feature"),
    "master_feature": ("Đối tượng QH tỉnh", "Master feature"),
    "plan_code": ("Mã đất quy hoạch", "Plan code"),
    "master_code": ("Mã đất QH tỉnh", "Master code"),
    "plan_label": ("Tên vùng quy hoạch", "Plan zone"),
    "master_label": ("Tên vùng QH tỉnh", "Master zone"),
    "rule_id": ("Quy tắc", "Rule"),
    "verdict": ("Kết luận", "Verdict"),
    "severity": ("Mức độ", "Severity"),
    "kind": ("Loại đối tượng", "Feature kind"),
    "share": ("Tỷ lệ so với đối tượng", "Share of feature"),
    "admin_code": ("Mã xã (mới)", "Commune code (new)"),
    "admin_name": ("Tên xã (mới)", "Commune (new)"),
    "admin_prev_code": ("Mã xã (cũ)", "Commune code (old)"),
    "admin_prev_name": ("Tên xã (cũ)", "Commune (old)"),
    "reference": ("Căn cứ pháp lý", "Legal reference"),
    "note": ("Ghi chú", "Note"),
    "code_name": ("Tên mã đất", "Land use"),
    "plan_code_name": ("Tên mã đất quy hoạch", "Plan land use"),
    "master_code_name": ("Tên mã đất QH tỉnh", "Master land use"),
    "outside_units": ("(ngoài các đơn vị hành chính)", "(outside every unit)"),
    # methodology
    "m_item": ("Mục", "Item"),
    "m_value": ("Nội dung", "Value"),
    "m_software": ("Phần mềm", "Software"),
    "m_date": ("Ngày lập", "Date"),
    "m_crs": ("Hệ tọa độ tính toán (diện tích, chiều dài)", "Analysis CRS (areas, lengths)"),
    "m_transform": ("Phép chuyển đổi VN-2000 ↔ WGS 84", "VN-2000 ↔ WGS 84 transformation"),
    "m_transform_used": ("Phép chuyển đổi đã dùng cho dữ liệu đầu vào", "Transformations applied to the inputs"),
    "m_rules": ("Bảng quy tắc", "Rules table"),
    "m_rules_count": ("Số quy tắc", "Rules"),
    "m_min_area": ("Diện tích mảnh tối thiểu (m²)", "Minimum piece area (m²)"),
    "m_profile": ("Hồ sơ tỉnh", "Province profile"),
    "m_master": ("Lớp quy hoạch tỉnh", "Master-plan layer"),
    "m_admin": ("Đơn vị hành chính (mới)", "Administrative units (current)"),
    "m_admin_prev": ("Đơn vị hành chính (cũ)", "Administrative units (previous)"),
    "m_how": (
        "Mỗi vùng của quy hoạch được chồng xếp lên lớp quy hoạch sử dụng đất của quy hoạch tỉnh; mỗi cặp mã đất "
        "(quy hoạch, quy hoạch tỉnh) được đối chiếu với bảng quy tắc (quy tắc cụ thể nhất được áp dụng). "
        "Phần giao được chia theo ranh giới xã; diện tích và chiều dài đo trong hệ tọa độ tính toán. "
        "Cặp mã không có quy tắc được liệt kê là \u201cchưa xét\u201d, không tính là xung đột.",
        "Each plan zone is overlaid on the provincial master plan's land-use layer; each (plan, master) code "
        "pair is looked up in the rules table (the most specific rule applies). Pieces are split at commune "
        "boundaries; areas and lengths are measured in the analysis CRS. Pairs no rule covers are listed as "
        "unreviewed, never as conflicts.",
    ),
    # XLSX sheet names (<= 31 characters, no []:*?/\)
    "sheet_plans": ("Quy hoạch", "Plans"),
    "sheet_conflicts": ("Xung đột", "Conflicts"),
    "sheet_admin": ("Theo xã", "By commune"),
    "sheet_admin_prev": ("Theo xã cũ", "By old commune"),
    "sheet_rules": ("Theo quy tắc", "By rule"),
    "sheet_plan_type": ("Theo loại quy hoạch", "By plan type"),
    "sheet_unreviewed": ("Chưa xét", "Unreviewed"),
    "sheet_excepted": ("Đã chấp thuận", "Excepted"),
    "sheet_method": ("Phương pháp", "Methodology"),
    # values
    "needs_adjustment": ("Cần điều chỉnh", "Needs adjustment"),
    "consistent": ("Phù hợp", "Consistent"),
    "failed": ("Lỗi, không kiểm tra được", "Failed"),
    "conflict": ("Xung đột", "Conflict"),
    "conditional": ("Có điều kiện", "Conditional"),
    "compatible": ("Tương thích", "Compatible"),
    "high": ("Cao", "High"),
    "medium": ("Trung bình", "Medium"),
    "low": ("Thấp", "Low"),
    "polygon": ("Vùng", "Area"),
    "line": ("Tuyến", "Line"),
    "point": ("Điểm", "Point"),
    "total": ("Tổng cộng", "Total"),
}

PLAN_TYPES: dict[str, tuple[str, str]] = {
    "urban_general": ("Quy hoạch chung đô thị", "Urban general plan"),
    "urban_zoning": ("Quy hoạch phân khu đô thị", "Urban zoning plan"),
    "urban_detailed": ("Quy hoạch chi tiết đô thị", "Urban detailed plan"),
    "rural": ("Quy hoạch chung xã (nông thôn)", "Rural commune plan"),
}
PLAN_TYPE_PREFIXES: dict[str, tuple[str, str]] = {
    "sectoral": ("Quy hoạch ngành", "Sectoral plan"),
    "technical": ("Quy hoạch hạ tầng kỹ thuật", "Technical infrastructure plan"),
}
SECTORS: dict[str, tuple[str, str]] = {
    "transport": ("giao thông", "transport"),
    "irrigation": ("thủy lợi", "irrigation"),
    "energy": ("năng lượng", "energy"),
    "water": ("cấp nước", "water supply"),
    "waste": ("chất thải rắn", "solid waste"),
    "water_waste": ("cấp nước và chất thải", "water and waste"),
    "drainage": ("thoát nước", "drainage"),
    "tourism": ("du lịch", "tourism"),
    "industry": ("công nghiệp", "industry"),
    "forestry": ("lâm nghiệp", "forestry"),
    "aquaculture": ("thủy sản", "aquaculture"),
    "telecom": ("viễn thông", "telecommunications"),
    "cemetery": ("nghĩa trang", "cemeteries"),
}


def plan_type_choices(english: bool = False) -> str:
    """The plan types a register or an upload accepts, each with its name, for a message:
    'urban_general (Quy hoạch chung đô thị), …, sectoral_<ngành> (Quy hoạch ngành: transport = giao thông, …)'."""
    i = 1 if english else 0
    # urban_detailed has a name for reports but is no register type (kgspatial.registry.PLAN_TYPE_RE).
    fixed = [f"{key} ({names[i]})" for key, names in PLAN_TYPES.items() if key != "urban_detailed"]
    sectors = ", ".join(key if english else f"{key} = {names[0]}" for key, names in SECTORS.items())
    kind, sector = ("kind", "sector") if english else ("loại", "ngành")
    return ", ".join(
        [
            *fixed,
            f"sectoral_<{sector}> ({PLAN_TYPE_PREFIXES['sectoral'][i]}: {sectors})",
            f"technical_<{kind}> ({PLAN_TYPE_PREFIXES['technical'][i]}, {'e.g.' if english else 'ví dụ'}"
            " technical_drainage)",
        ]
    )


class Labels:
    """`L("key")` -> the text in the report's language, NFC."""

    def __init__(self, english: bool = False):
        self.english = english
        self.lang = "en" if english else "vi"

    def __call__(self, key: str, **fmt) -> str:
        vi, en = TEXT[key]
        text = en if self.english else vi
        return nfc(text.format(**fmt) if fmt else text)

    def value(self, raw: object) -> str:
        """Translate a verdict / severity / kind value; anything else is shown as is."""
        if isinstance(raw, str) and raw in TEXT:
            return self(raw)
        return "" if raw is None else str(raw)

    def plan_type(self, raw: str | None) -> str:
        if not raw:
            return ""
        i = 1 if self.english else 0
        if raw in PLAN_TYPES:
            return PLAN_TYPES[raw][i]
        head, _, rest = raw.partition("_")
        if head in PLAN_TYPE_PREFIXES and rest:
            sector = SECTORS.get(rest, (rest.replace("_", " "),) * 2)[i]
            return f"{PLAN_TYPE_PREFIXES[head][i]} ({sector})"
        return raw


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
