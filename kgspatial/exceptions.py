"""Exceptions (CONTRACT §10): conflict findings a decision accepted, so they stop counting.

A province accepts some conflicts on purpose (a decision lets a project sit on rice land, say).
`exceptions.csv` names each accepted finding by plan, rule and features; a conflict row it
matches is `excepted` while the exception runs (`until` empty or not yet past), else `open`.
Only open rows make exit code 1 and "needs adjustment". The table is hand-written in a
spreadsheet, so it is validated whole, every problem listed at once, like the rules table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ExceptionsError

COLUMNS = ("plan_id", "rule_id", "plan_feature", "master_feature", "decision", "until", "basis", "note", "against")
REQUIRED = ("plan_id", "rule_id", "plan_feature", "master_feature", "decision")
ANY_FEATURE = "*"  # master_feature only: every master zone the plan feature meets under that rule
MASTER = "master"  # `against`: rows against the master plan (the default), else a parent plan's id
OPEN, EXCEPTED = "open", "excepted"
REVIEW_COLUMN = "review"
DECISION_COLUMN = "review_decision"  # the decision that excepted the row; empty for open rows


@dataclass(frozen=True)
class PlanException:
    """One accepted finding: rows of `plan_id` under `rule_id` between these two features."""

    plan_id: str
    rule_id: str
    plan_feature: str
    master_feature: str  # a feature id, or "*" for any
    decision: str
    until: dt.date | None  # last day it applies; None: no end
    basis: str
    note: str
    # Which rows: those against the master plan, or those against the plan's parent (its id). A
    # decision accepting a master-plan conflict says nothing of the parent plan (CONTRACT §7, §10).
    against: str = MASTER
    # The service's id of the stored exception. When set, messages name the exception by it and its
    # decision only: the stored summary is shown to every role, and a master feature id may name
    # defence or security land (CONTRACT §5), which only admins may see.
    ref: str = ""

    def applies(self, on: dt.date) -> bool:
        return self.until is None or self.until >= on

    def describe(self) -> str:
        """Full text, master feature id included (the CLI); with `ref` (the service) its id and
        decision only, safe for every role."""
        if self.ref:
            return f"{self.ref} ({self.decision})"
        where = "" if self.against == MASTER else f" / {self.against}"
        return f"{self.plan_id} / {self.rule_id} / {self.plan_feature} / {self.master_feature}{where} ({self.decision})"


def _cell(value: Any) -> str:
    """A cell as text: JSON gives numbers for feature ids, spreadsheets give text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    return str(value).strip()


def _date(text: str) -> dt.date:
    from .registry import _parse_date

    value = _parse_date(text)
    if not isinstance(value, dt.date):
        raise ValueError(f"{text!r} is not a date (year-month-day or day/month/year)")
    return value


def _parse(numbered: list[tuple[str, Any]], problems: list[str], from_csv: bool = False) -> list[PlanException]:
    """Rows (where, cells) to exceptions; a CSV row given as text is a problem read_exceptions found."""
    out: list[PlanException] = []
    seen: dict[tuple[str, str, str, str, str], str] = {}
    for where, row in numbered:
        if isinstance(row, str) and from_csv:
            problems.append(f"{where}: {row}")
            continue
        if not isinstance(row, dict):
            problems.append(f"{where}: không phải một dòng có các cột / not a row of named cells")
            continue
        keys = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        unknown = sorted(k for k in keys if k not in COLUMNS)
        if unknown:
            problems.append(f"{where}: cột không có trong bảng / unknown column(s) {', '.join(unknown)}")
        cell = {name: _cell(keys.get(name)) for name in COLUMNS}
        row_ok = not unknown
        for name in REQUIRED:
            if not cell[name]:
                problems.append(f"{where}, {name}: trống / empty")
                row_ok = False
        if cell["plan_feature"] == ANY_FEATURE:
            problems.append(
                f"{where}, plan_feature: phải là mã một đối tượng / must name one feature of the plan"
                " (only master_feature may be *)"
            )
            row_ok = False
        if cell["against"] == ANY_FEATURE:
            problems.append(
                f"{where}, against: phải là 'master' hoặc mã quy hoạch cấp trên / must be 'master'"
                " or the id of the plan's parent (not *)"
            )
            row_ok = False
        if cell["rule_id"] == ANY_FEATURE:
            problems.append(f"{where}, rule_id: phải là mã một quy tắc / must name one rule (not *)")
            row_ok = False
        until = None
        if cell["until"]:
            try:
                until = _date(cell["until"])
            except ValueError as exc:
                problems.append(f"{where}, until: ngày không hợp lệ / {exc}")
                row_ok = False
        against = cell["against"] or MASTER
        key = (cell["plan_id"], cell["rule_id"], cell["plan_feature"], cell["master_feature"], against)
        if row_ok and key in seen:
            problems.append(
                f"{where}: trùng với {seen[key]} / the same finding as {seen[key]} (one decision per finding)"
            )
            row_ok = False
        if row_ok:
            seen[key] = where
            out.append(
                PlanException(
                    *key[:4],
                    decision=cell["decision"],
                    until=until,
                    basis=cell["basis"],
                    note=cell["note"],
                    against=against,
                )
            )
    return out


def parse_exceptions(rows: list[dict], source: str) -> list[PlanException]:
    """Validate exception rows given as mappings (the service's JSON); ExceptionsError lists
    every problem of every row at once."""
    if not isinstance(rows, list):
        raise ExceptionsError(["phải là một danh sách các dòng / expected a list of rows"], source=source)
    problems: list[str] = []
    out = _parse([(f"row {i + 1}", row) for i, row in enumerate(rows)], problems)
    if problems:
        raise ExceptionsError(problems, source=source)
    return out


def read_exceptions(path: str | Path, name: str | None = None) -> list[PlanException]:
    """Read and validate exceptions.csv (UTF-8, as a spreadsheet saves it; strict like the rules
    table). `name` is the file as the user named it, for messages."""
    from .rules import read_csv_table

    path = Path(path)
    source = name or str(path)
    _, rows = read_csv_table(path, source, ExceptionsError)
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ExceptionsError(
            ["bảng trống, cần dòng tiêu đề / the table is empty (a header row is needed)"], source=source
        )
    header = [h.strip().lower() for h in rows[0]]
    problems: list[str] = []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        problems.append(f"header: thiếu cột / missing column(s) {', '.join(missing)}")
    unknown = [h for h in header if h and h not in COLUMNS]
    if unknown:
        problems.append(
            f"header: cột không có trong bảng / unknown column(s) {', '.join(unknown)} (columns: {','.join(COLUMNS)})"
        )
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        problems.append(f"header: cột lặp lại / repeated column(s) {', '.join(repeated)}")
    if problems:
        raise ExceptionsError(problems, source=source)
    numbered = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):  # reported in its place among the others
            numbered.append(
                (f"row {line_no}", f"{len(row)} ô cho {len(header)} cột / {len(row)} cells for {len(header)} columns")
            )
            continue
        numbered.append((f"row {line_no}", {h: (row[i] if i < len(row) else "") for i, h in enumerate(header) if h}))
    out = _parse(numbered, problems, from_csv=True)
    if problems:
        raise ExceptionsError(problems, source=source)
    return out


def apply_exceptions(
    conflicts: pd.DataFrame, exceptions: list[PlanException], plan_id: str | None, on: dt.date
) -> tuple[pd.DataFrame, list[str]]:
    """The conflict rows with `review` (open / excepted) and `review_decision`, and warnings for
    exceptions of this plan that expired before `on` or match no row.

    `plan_id` limits the exceptions considered to that plan's (None: every plan in the rows);
    exceptions of other plans are left for their own check. Where a named master feature and `*`
    both match a row, the named one's decision is shown.
    """
    n = len(conflicts)
    review = np.full(n, OPEN, dtype=object)
    decision = np.full(n, "", dtype=object)
    warnings: list[str] = []
    mine = [e for e in exceptions if (e.plan_id == plan_id if plan_id is not None else True)]
    if plan_id is None and n:
        present = set(conflicts["plan_id"].astype(str))
        mine = [e for e in mine if e.plan_id in present]
    mine.sort(key=lambda e: e.master_feature == ANY_FEATURE)  # named master features first
    if mine and n:
        features = conflicts["plan_feature"].astype(str).to_numpy()
        # Only rows of an excepted plan feature are compared one by one: few, however many rows.
        candidates = np.nonzero(np.isin(features, list({e.plan_feature for e in mine})))[0]
        sub = conflicts.iloc[candidates]
        against = sub["against"].fillna(MASTER).astype(str) if "against" in sub else pd.Series(MASTER, index=sub.index)
        keys = list(
            zip(
                sub["plan_id"].astype(str),
                sub["rule_id"].astype(str),
                features[candidates],
                sub["master_feature"].astype(str),
                against,
            )
        )
    else:
        candidates, keys = np.zeros(0, dtype=np.intp), []
    for exc in mine:
        hits = [
            int(candidates[i])
            for i, (p, r, f, m, a) in enumerate(keys)
            if p == exc.plan_id
            and r == exc.rule_id
            and f == exc.plan_feature
            and a == exc.against
            and (exc.master_feature == ANY_FEATURE or m == exc.master_feature)
        ]
        if not exc.applies(on):
            warnings.append(
                f"ngoại lệ đã hết hạn ngày {exc.until.isoformat()}, {len(hits)} mảnh vẫn phải xử lý / exception"
                f" {exc.describe()} expired on {exc.until.isoformat()}: its {len(hits)} row(s) stay open"
            )
            continue
        if not hits:
            warnings.append(
                f"ngoại lệ không khớp với mảnh xung đột nào / exception {exc.describe()} matches no"
                " conflict row (check its plan, rule and feature ids)"
            )
            continue
        for i in hits:
            if review[i] == OPEN:
                review[i], decision[i] = EXCEPTED, exc.decision
    out = conflicts.copy()
    out[REVIEW_COLUMN] = pd.Series(review, index=conflicts.index, dtype=object)
    out[DECISION_COLUMN] = pd.Series(decision, index=conflicts.index, dtype=object)
    return out, warnings


def open_rows(conflicts: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows still open (all rows, when no review was made)."""
    if REVIEW_COLUMN not in conflicts:
        return np.ones(len(conflicts), dtype=bool)
    return (conflicts[REVIEW_COLUMN] != EXCEPTED).to_numpy()
