"""The compatibility rules table (CONTRACT §3), compiled once into a code × code lookup matrix.

Matching is done for every pair of taxonomy codes up front, so the overlay core only indexes
an integer matrix and ambiguous tables are caught before any geometry is touched.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import RulesError, say
from .taxonomy import Taxonomy

VERDICTS = ("compatible", "conditional", "conflict")
SEVERITIES = ("high", "medium", "low")
REQUIRED_COLUMNS = ("rule_id", "plan_code", "master_code", "verdict", "severity")
OPTIONAL_COLUMNS = ("reference", "note")
WILDCARD = "*"

# Matrix sentinels (non-negative values are rule indices).
SAME_CODE = -1  # same code on both sides, no rule names the pair: compatible
UNREVIEWED = -2  # no rule covers the pair
UNKNOWN_CODE = "?"  # stands for every value the taxonomy does not know: only `*` matches it


@dataclass(frozen=True)
class Rule:
    rule_id: str
    plan_code: str
    master_code: str
    verdict: str
    severity: str
    reference: str
    note: str
    row: int

    @property
    def reports(self) -> bool:
        """Whether a matched pair becomes a conflict row (conflict or conditional)."""
        return self.verdict != "compatible"


@dataclass(frozen=True)
class RulesTable:
    rules: tuple[Rule, ...]
    codes: tuple[str, ...]  # matrix axis: taxonomy codes then UNKNOWN_CODE
    matrix: np.ndarray  # int32 [plan code index, master code index] -> rule index or sentinel
    source: str
    sha256: str

    def code_index(self, code: str | None) -> int:
        """Matrix index of a canonical code; unknown values share the last slot."""
        return self._index.get(code, len(self.codes) - 1) if code else len(self.codes) - 1

    @property
    def _index(self) -> dict[str, int]:
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {c: i for i, c in enumerate(self.codes)}
            object.__setattr__(self, "_index_cache", cached)
        return cached

    def code_indices(self, codes: np.ndarray) -> np.ndarray:
        """Matrix indices of many codes at once (one dictionary lookup per distinct code)."""
        import pandas as pd

        unknown = len(self.codes) - 1
        return pd.Series(codes, dtype=object).map(self._index).fillna(unknown).to_numpy(dtype=np.int64)

    def lookup(self, plan_code: str | None, master_code: str | None) -> Rule | int:
        """The rule for one pair, or SAME_CODE / UNREVIEWED."""
        value = int(self.matrix[self.code_index(plan_code), self.code_index(master_code)])
        return self.rules[value] if value >= 0 else value

    def reporting_mask(self) -> np.ndarray:
        """Boolean matrix: pairs that need exact geometry (conflict, conditional or unreviewed)."""
        # negative indexing: -2 (UNREVIEWED) -> True, -1 (SAME_CODE) -> False
        verdict_reports = np.array([r.reports for r in self.rules] + [True, False])
        return verdict_reports[self.matrix]


def load_rules(path: str | Path, taxonomy: Taxonomy, name: str | None = None) -> RulesTable:
    """Read and validate a rules CSV; every problem is listed in one RulesError.

    `name` is the file as the user named it (an upload's), for messages; default its path."""
    path = Path(path)
    source = name or str(path)
    raw, rows = read_csv_table(path, source, RulesError)
    rules = parse_rules(rows, taxonomy, source=source)
    return compile_rules(rules, taxonomy, source=source, sha256=hashlib.sha256(raw).hexdigest())


def read_csv_table(path: Path, source: str, error: type[RulesError] = RulesError) -> tuple[bytes, list[list[str]]]:
    """The raw bytes and the cells of a CSV a spreadsheet saved (UTF-8, with or without BOM, the
    separator of the PC's locale or Excel's `sep=` line); `error` lists why it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(
            [say(f"không đọc được {path}: {exc.strerror}", f"cannot read {path}: {exc.strerror}")], source=source
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(
            [
                say(
                    "tệp không phải văn bản UTF-8 (hãy lưu dạng CSV UTF-8)",
                    "the file is not UTF-8 text (save it as CSV UTF-8)",
                )
            ],
            source=source,
        ) from None
    lines = text.splitlines()
    if lines and lines[0].lower().startswith("sep=") and len(lines[0]) == 5:  # Excel's separator line
        delimiter, lines = lines[0][4], lines[1:]
    else:
        delimiter = _delimiter(text)
    # A long note is a valid cell (csv's own limit is 128 KiB; the file's size is bounded by
    # whoever hands it over); an unclosed quote must not swallow the rows after it unseen.
    csv.field_size_limit(max(csv.field_size_limit(), len(raw) + 1))
    try:
        rows = list(csv.reader(lines, delimiter=delimiter, strict=True))
    except csv.Error as exc:  # an unclosed quote, a stray quote inside a cell
        raise error(
            [
                say(
                    f"không đọc được bảng CSV ({exc}); hãy kiểm tra dấu ngoặc kép",
                    f"not a readable CSV table ({exc}); check the quotes",
                )
            ],
            source=source,
        ) from None
    return raw, rows


def _delimiter(text: str) -> str:
    """Excel saves "CSV" with the list separator of the PC's locale: ';' under Vietnamese (and
    most European) settings.  The header row tells which one the file uses."""
    header = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=lambda sep: (header.count(sep), sep == ","))


def parse_rules(rows: list[list[str]], taxonomy: Taxonomy, source: str = "rules table") -> list[Rule]:
    problems: list[str] = []
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise RulesError(
            [say("bảng trống (cần một dòng tiêu đề)", "the table is empty (a header row is needed)")], source=source
        )
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problems.append(
            say(f"tiêu đề: thiếu cột {', '.join(missing)}", f"header: missing column(s) {', '.join(missing)}")
        )
    unknown = [h for h in header if h and h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        problems.append(
            say(f"tiêu đề: cột không biết {', '.join(unknown)}", f"header: unknown column(s) {', '.join(unknown)}")
        )
    if problems:
        raise RulesError(problems, source=source)
    col = {name: header.index(name) for name in header if name}

    rules: list[Rule] = []
    seen_ids: dict[str, int] = {}
    seen_pairs: dict[tuple[str, str], int] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            problems.append(
                say(
                    f"dòng {line_no}: {len(row)} ô cho {len(header)} cột",
                    f"row {line_no}: {len(row)} cells for {len(header)} columns",
                )
            )
            continue
        cell = {name: (row[i].strip() if i < len(row) else "") for name, i in col.items()}
        rule_id = cell["rule_id"]
        if not rule_id:
            problems.append(say(f"dòng {line_no}, rule_id: để trống", f"row {line_no}, rule_id: empty"))
        elif rule_id in seen_ids:
            problems.append(
                say(
                    f"dòng {line_no}, rule_id: {rule_id!r} đã dùng ở dòng {seen_ids[rule_id]}",
                    f"row {line_no}, rule_id: {rule_id!r} already used on row {seen_ids[rule_id]}",
                )
            )
        else:
            seen_ids[rule_id] = line_no
        sides = {}
        for side in ("plan_code", "master_code"):
            value = cell[side]
            if value == WILDCARD:
                sides[side] = WILDCARD
                continue
            code = taxonomy.canonical(value) if value else None
            if code is None:
                problems.append(
                    say(
                        f"dòng {line_no}, {side}: {value!r} không phải mã, nhóm mã trong bảng phân loại hay *",
                        f"row {line_no}, {side}: {value!r} is not a taxonomy code, group or *",
                    )
                )
            sides[side] = code
        verdict = cell["verdict"].lower()
        if verdict not in VERDICTS:
            problems.append(
                say(
                    f"dòng {line_no}, verdict: {cell['verdict']!r} không thuộc {', '.join(VERDICTS)}",
                    f"row {line_no}, verdict: {cell['verdict']!r} is not one of {', '.join(VERDICTS)}",
                )
            )
        severity = cell["severity"].lower()
        if severity and severity not in SEVERITIES:
            problems.append(
                say(
                    f"dòng {line_no}, severity: {cell['severity']!r} không thuộc {', '.join(SEVERITIES)}",
                    f"row {line_no}, severity: {cell['severity']!r} is not one of {', '.join(SEVERITIES)}",
                )
            )
        elif not severity and verdict in ("conflict", "conditional"):
            problems.append(
                say(
                    f"dòng {line_no}, severity: bắt buộc với quy tắc {verdict}",
                    f"row {line_no}, severity: required for a {verdict} rule",
                )
            )
        if sides.get("plan_code") and sides.get("master_code"):
            pair = (sides["plan_code"], sides["master_code"])
            if pair in seen_pairs:
                problems.append(
                    say(
                        f"dòng {line_no}: cặp {pair[0]} – {pair[1]} đã có quy tắc ở dòng {seen_pairs[pair]}",
                        f"row {line_no}: pair {pair[0]} / {pair[1]} already has a rule on row {seen_pairs[pair]}",
                    )
                )
            else:
                seen_pairs[pair] = line_no
        rules.append(
            Rule(
                rule_id=rule_id,
                plan_code=sides.get("plan_code") or "",
                master_code=sides.get("master_code") or "",
                verdict=verdict,
                severity=severity,
                reference=cell.get("reference", ""),
                note=cell.get("note", ""),
                row=line_no,
            )
        )
    if not rules and not problems:
        problems.append(say("bảng không có quy tắc nào", "the table has no rules"))
    if problems:
        raise RulesError(problems, source=source)
    return rules


def _side_scores(side: str, codes: tuple[str, ...], taxonomy: Taxonomy) -> np.ndarray:
    """Score of one rule side against every code: 2 exact code, 1 via a group, 0 `*`, -1 no match."""
    scores = np.full(len(codes), -1, dtype=np.int8)
    for i, code in enumerate(codes):
        if side == WILDCARD:
            scores[i] = 0
        elif code == UNKNOWN_CODE:
            continue
        elif side == code:
            scores[i] = 2
        elif side in taxonomy.ancestors(code):
            scores[i] = 1
    return scores


def compile_rules(rules: list[Rule], taxonomy: Taxonomy, source: str, sha256: str) -> RulesTable:
    """Resolve precedence for every code pair; unresolved ties are table errors."""
    codes = tuple(taxonomy.codes) + (UNKNOWN_CODE,)
    plan_scores = np.stack([_side_scores(r.plan_code, codes, taxonomy) for r in rules])  # [R, n]
    master_scores = np.stack([_side_scores(r.master_code, codes, taxonomy) for r in rules])
    matches = (plan_scores[:, :, None] >= 0) & (master_scores[:, None, :] >= 0)  # [R, n, n]
    # Rank = total score, ties broken by the plan side: total*3 + plan keeps the order exact.
    rank = np.where(matches, (plan_scores[:, :, None] + master_scores[:, None, :]) * 3 + plan_scores[:, :, None], -1)
    best = rank.max(axis=0)
    winners = (rank == best[None]) & matches
    n_winners = winners.sum(axis=0)
    matrix = np.where(best >= 0, winners.argmax(axis=0), UNREVIEWED).astype(np.int32)

    problems = []
    reported: set[tuple[int, ...]] = set()
    for p, m in zip(*np.nonzero(n_winners > 1)):
        tied = tuple(int(i) for i in np.nonzero(winners[:, p, m])[0])
        if tied not in reported:
            reported.add(tied)
            names = " and ".join(f"{rules[i].rule_id} (row {rules[i].row})" for i in tied)
            names_vi = " và ".join(f"{rules[i].rule_id} (dòng {rules[i].row})" for i in tied)
            problems.append(
                say(
                    f"các quy tắc {names_vi} ngang nhau cho mã quy hoạch {codes[p]} trên mã quy hoạch tỉnh {codes[m]}",
                    f"rules {names} tie for plan code {codes[p]} on master code {codes[m]}",
                )
            )
    if problems:
        raise RulesError(problems, source=source)

    # Same code on both sides is compatible unless a rule names exactly that pair.
    exact = {(r.plan_code, r.master_code) for r in rules}
    for i, code in enumerate(codes[:-1]):
        if (code, code) not in exact:
            matrix[i, i] = SAME_CODE
    return RulesTable(rules=tuple(rules), codes=codes, matrix=matrix, source=source, sha256=sha256)
