"""The reports' section per hazard (CONTRACT §8): exposed area by band, plan, plan type, commune and
land use, the findings, the scenario and its source.  Adds up the rows of hazards.gpkg; never
recomputes the screening."""

from __future__ import annotations

import math

import pandas as pd

from .labels import TEXT

# Labels of the hazard section, kept beside it (key -> Vietnamese, English).
TEXT.update(
    {
        "h_hazard": ("Sàng lọc ngập", "Hazard screening"),
        "hz_scenario": ("Kịch bản", "Scenario"),
        "hz_source": ("Nguồn số liệu", "Source of the figure"),
        "hz_illustrative": ("số liệu minh họa", "illustrative figure"),
        "hz_raster": ("Raster", "Raster"),
        "hz_measure_depth": ("độ sâu ngập (m)", "water depth (m)"),
        "hz_measure_elevation": ("cao độ (m), mực nước {level} m", "elevation (m), water level {level} m"),
        "hz_bands": ("Theo mức ngập", "By depth band"),
        "hz_band": ("Mức ngập", "Depth band"),
        "hz_by_plan": ("Theo quy hoạch", "By plan"),
        "hz_by_type": ("Theo loại quy hoạch", "By plan type"),
        "hz_by_admin": ("Theo xã, phường (đơn vị mới)", "By commune (current units)"),
        "hz_by_admin_prev": ("Theo đơn vị hành chính trước 7/2025", "By pre-July-2025 unit"),
        "hz_by_use": ("Theo loại đất quy hoạch", "By planned land use"),
        "hz_findings": ("Các phần bị ngập", "Exposed parts"),
        "hz_exposed_area": ("Diện tích ngập (ha)", "Exposed area (ha)"),
        "hz_exposed_length": ("Chiều dài ngập (m)", "Exposed length (m)"),
        "hz_conflict_area": ("Trong đó xung đột (ha)", "Of which conflict (ha)"),
        "hz_unknown": ("Không có dữ liệu (chưa rõ, không coi là an toàn)", "No data (unknown, never counted as safe)"),
        "hz_max": ("Sâu nhất (m)", "Max depth (m)"),
        "hz_mean": ("Sâu TB (m)", "Mean depth (m)"),
        "hz_none": (
            "Không có phần nào của quy hoạch nằm trong các mức ngập có quy tắc.",
            "No part of the plans lies in a depth band with a rule.",
        ),
        "hz_cut": (
            "Hiển thị {shown} / {total} dòng; bảng tính XLSX có đủ.",
            "{shown} of {total} rows shown; the XLSX has all.",
        ),
        "finding_id": ("Mã phát hiện", "Finding id"),
        "hazard_id": ("Mã lớp ngập", "Hazard id"),
        "unknown": ("chưa rõ (không có dữ liệu)", "unknown (no data)"),
        "unknown_m2": ("Không có dữ liệu (m²)", "No data (m²)"),
        "sheet_hazards": ("Ngập - tổng hợp", "Hazards - summary"),
        "sheet_hazard_rows": ("Ngập - chi tiết", "Hazards - findings"),
    }
)
ROWS_SHOWN = 200


def band_text(min_depth) -> str:
    return (
        "—" if min_depth is None or (isinstance(min_depth, float) and math.isnan(min_depth)) else f"> {min_depth:g} m"
    )


def _sums(frame: pd.DataFrame, keys: list[str]) -> list[dict]:
    if frame.empty:
        return []
    conflict = frame["verdict"] == "conflict"
    grouped = (
        frame.assign(point=frame["kind"] == "point", carea=frame["area_m2"].where(conflict, 0.0))
        .groupby(keys, sort=True, dropna=False)
        .agg(
            pieces=("area_m2", "size"),
            area_m2=("area_m2", "sum"),
            length_m=("length_m", "sum"),
            points=("point", "sum"),
            conflict_area_m2=("carea", "sum"),
        )
    )
    out = []
    for values, row in zip(grouped.index, grouped.itertuples(index=False)):
        values = values if isinstance(values, tuple) else (values,)
        out.append(
            {
                **{k: ("" if pd.isna(v) else v) for k, v in zip(keys, values)},
                "pieces": int(row.pieces),
                "area_m2": float(row.area_m2),
                "length_m": float(row.length_m),
                "points": int(row.points),
                "conflict_area_m2": float(row.conflict_area_m2),
            }
        )
    return sorted(out, key=lambda r: (-r["area_m2"], -r["length_m"], -r["points"]))


def sections(hazards, taxonomy, lang: str, plans=(), plan_id: str | None = None) -> list[dict]:
    """One dict per hazard for the templates and the workbook."""
    if hazards is None:
        return []
    frame = pd.DataFrame({c: hazards.findings[c] for c in hazards.findings.columns if c != "geometry"})
    if plan_id is not None:
        frame = frame[frame["plan_id"] == plan_id]
    names = {p.id: p.name for p in plans}
    types = {p.id: p.type for p in plans}
    out = []
    for info in hazards.layers:
        sub = frame[frame["hazard_id"] == info["id"]]
        known = sub[sub["verdict"] != "unknown"]
        unknown = sub[sub["verdict"] == "unknown"]
        rules = {r.rule_id: r for r in hazards.config.rules} if hazards.config else {}
        bands = []
        for row in _sums(known, ["rule_id"]):
            rule = rules.get(row["rule_id"])
            bands.append(
                {
                    **row,
                    "band": band_text(rule.min_depth if rule else None),
                    "min_depth": rule.min_depth if rule else 0,
                    "plan_code": rule.plan_code if rule else "",
                    "verdict": rule.verdict if rule else "",
                    "severity": rule.severity if rule else "",
                    "reference": rule.reference if rule else "",
                    "note": rule.note if rule else "",
                }
            )
        bands.sort(key=lambda b: (b["plan_code"], b["min_depth"]))
        by_use = []
        for row in _sums(known, ["plan_code"]):
            code = row["plan_code"]
            name = taxonomy.name(code, lang) if taxonomy is not None and code in taxonomy else ""
            by_use.append({**row, "name": name})
        by_plan = [
            {**r, "name": names.get(r["plan_id"], r["plan_id"]), "type": types.get(r["plan_id"], "")}
            for r in _sums(known, ["plan_id"])
        ]
        by_type = _sums(known.assign(type=known["plan_id"].map(types).fillna("")), ["type"]) if types else []
        rows = known.assign(band=[band_text(v) for v in known["min_depth"]])
        out.append(
            {
                **info,
                "bands": bands,
                "by_plan": by_plan,
                "by_type": by_type,
                "by_admin": _sums(known, ["admin_code", "admin_name"]) if "admin_code" in known else [],
                "by_admin_prev": _sums(known, ["admin_prev_code", "admin_prev_name"])
                if "admin_prev_code" in known
                else [],
                "by_use": by_use,
                "unknown_m2": float(unknown["area_m2"].sum()),
                "unknown_m": float(unknown["length_m"].sum()),
                "unknown_points": int((unknown["kind"] == "point").sum()),
                "rows": rows.sort_values(["verdict", "area_m2", "length_m"], ascending=[True, False, False]).to_dict(
                    "records"
                ),
            }
        )
    return out
