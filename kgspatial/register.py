"""The plan register (CONTRACT §7): each registered plan's legal status and review status on a date.

Legal status follows transitions kept as data (layers/legal_status.yaml, each with its legal
reference), so a newer law is a new entry there, not new code; this module only knows what each
condition means. Review status comes from a batch's results: what it found, and whether the
inputs it was made with (plan, master plan, parent, rules, taxonomy) are still the same files.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .registry import PlanEntry, Registry
from .taxonomy import default_layers_dir

LEGAL_FILE = "legal_status.yaml"
LEGAL_STATUSES = ("abolished", "superseded", "expired", "past_horizon", "draft", "in_force")
REVIEW_STATUSES = ("consistent", "needs_adjustment", "failed", "outdated", "not_checked", "not_required")
OVERDUE_WHEN = frozenset({"needs_adjustment", "failed", "outdated", "not_checked"})
CONDITIONS = (
    "declared_abolished",
    "fixes_quantities",
    "declared_superseded",
    "superseded_by_approved",
    "integrated",
    "past_horizon",
    "not_approved",
    "otherwise",
)


@dataclass(frozen=True)
class Law:
    id: str
    title: str
    title_en: str
    in_force: dt.date | None  # None: its effective date is not known yet, so it is never cited


@dataclass(frozen=True)
class Reference:
    text: str
    text_en: str
    law: Law | None = None
    article: str = ""
    article_en: str = ""

    def cite(self, english: bool) -> str:
        if self.law is None:
            return self.text_en if english else self.text
        law = self.law.title_en if english else self.law.title
        article = self.article_en if english else self.article
        text = self.text_en if english else self.text
        return f"{article} {law}: {text}" if article else f"{law}: {text}"


@dataclass(frozen=True)
class Transition:
    status: str
    when: str
    basis: tuple[Reference, ...]

    def reference(self, on: dt.date) -> Reference:
        """The last reference whose law is in force on the date (one with no law always is)."""
        usable = [r for r in self.basis if r.law is None or (r.law.in_force is not None and r.law.in_force <= on)]
        return usable[-1] if usable else self.basis[0]


def load_transitions(path: str | Path | None = None) -> tuple[Transition, ...]:
    """Read the legal transitions; InputError lists every problem in the file."""
    path = Path(path) if path is not None else default_layers_dir() / LEGAL_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path.name}: not a readable YAML file ({' '.join(str(exc).split())})") from None
    problems: list[str] = []
    laws: dict[str, Law] = {}
    raw_laws = data.get("laws") if isinstance(data, dict) else None
    for key, value in (raw_laws or {}).items():
        if not isinstance(value, dict) or not isinstance(value.get("title"), str):
            problems.append(f"laws.{key}: expected title, title_en, in_force")
            continue
        when = value.get("in_force")
        if when is not None and not isinstance(when, dt.date):
            problems.append(f"laws.{key}.in_force: expected a date year-month-day or nothing (got {when!r})")
            when = None
        laws[key] = Law(str(key), value["title"], value.get("title_en") or value["title"], when)
    transitions = []
    raw = data.get("transitions") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        problems.append("transitions: expected a list")
        raw = []
    for i, item in enumerate(raw):
        where = f"transitions[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected status, when, basis")
            continue
        if item.get("status") not in LEGAL_STATUSES:
            problems.append(f"{where}.status: {item.get('status')!r} is not one of {', '.join(LEGAL_STATUSES)}")
        if item.get("when") not in CONDITIONS:
            problems.append(f"{where}.when: {item.get('when')!r} is not one of {', '.join(CONDITIONS)}")
        refs = []
        for j, ref in enumerate(item.get("basis") or []):
            if not isinstance(ref, dict) or not isinstance(ref.get("text"), str):
                problems.append(f"{where}.basis[{j}]: expected text (and law, article)")
                continue
            law = ref.get("law")
            if law is not None and law not in laws:
                problems.append(f"{where}.basis[{j}].law: {law!r} is not under laws")
                continue
            refs.append(
                Reference(
                    ref["text"],
                    ref.get("text_en") or ref["text"],
                    laws.get(law),
                    str(ref.get("article") or ""),
                    str(ref.get("article_en") or ref.get("article") or ""),
                )
            )
        if not refs:
            problems.append(f"{where}.basis: expected at least one reference")
        transitions.append(Transition(str(item.get("status")), str(item.get("when")), tuple(refs)))
    if problems:
        raise InputError(f"{path.name}: {len(problems)} problem(s): " + "; ".join(problems))
    return tuple(transitions)


@dataclass(frozen=True)
class LegalStatus:
    status: str
    basis: str
    since: dt.date | None


def _holds(
    when: str, plan: PlanEntry, plans: dict[str, PlanEntry], reg: Registry, on: dt.date
) -> tuple[bool, dt.date | None]:
    """Whether the condition holds for the plan on the date, and since when."""
    approved = plan.approved
    if when == "declared_abolished":
        return plan.declared_status == "abolished", None
    if when == "fixes_quantities":
        return plan.fixes_quantities, None
    if when == "declared_superseded":
        return plan.declared_status == "superseded", None
    if when == "superseded_by_approved":
        successor = plans.get(plan.superseded_by) if plan.superseded_by else None
        if successor is not None and successor.approved is not None and successor.approved <= on:
            return True, successor.approved
        return False, None
    if when == "integrated":
        since = reg.profile.master_plan_approved
        return plan.integrated and since is not None and on >= since, since
    if when == "past_horizon":
        return plan.horizon is not None and on > dt.date(plan.horizon, 12, 31), (
            dt.date(plan.horizon + 1, 1, 1) if plan.horizon is not None else None
        )
    if when == "not_approved":
        return plan.declared_status == "draft" or approved is None or approved > on, None
    return True, approved  # "otherwise"


def legal_status(
    plan: PlanEntry, reg: Registry, on: dt.date, transitions: tuple[Transition, ...], english: bool = False
) -> LegalStatus:
    """The first transition that applies on the date, with its legal basis and since when."""
    plans = {p.id: p for p in reg.plans}
    for transition in transitions:
        holds, since = _holds(transition.when, plan, plans, reg, on)
        if holds:
            reference = transition.reference(on)
            basis = reference.cite(english)
            if transition.when == "fixes_quantities" and reference.law is not None:
                since = max(d for d in (reference.law.in_force, plan.approved) if d is not None)
            if transition.when == "otherwise" and plan.decision:
                basis = f"{basis} {plan.decision}"
            return LegalStatus(transition.status, basis, since)
    raise InputError(f"{LEGAL_FILE}: no transition applies to plan {plan.id} (the list must end with 'otherwise')")


# ----------------------------------------------------------------------------------------------
# Review status: what a batch's result says, if it was made from today's inputs


@dataclass(frozen=True)
class Result:
    """One plan's result in a batch output (or the batch just run)."""

    status: str  # "checked" | "unchanged" | "failed"
    reason: str | None
    open_conflicts: int
    conflict_area_m2: float
    conflict_length_m: float
    conflict_points: int
    inputs: dict | None  # digests of what it was made with (None: not recorded)
    note: str | None = None  # "master_changed_elsewhere": reused by batch --resume after a master change


def review_inputs(reg: Registry) -> dict[str, dict[str, str | None]]:
    """Per plan, digests of the files its result depends on: plan, master plan, parent, rules,
    taxonomy. Each file is hashed once, however many plans share it."""
    from .batch import _digest, file_parts, hash_files

    def digest(paths) -> str:
        return _digest(hash_files(paths))

    shared = {
        "master": digest(file_parts(reg.master_spec())),
        "rules": digest([reg.rules]),
        "taxonomy": digest([p for p in (reg.profile.taxonomy, reg.profile.aliases) if p]),
    }
    plans = {p.id: digest(file_parts(reg.plan_spec(p))) for p in reg.plans}
    return {
        p.id: {"plan": plans[p.id], "parent": plans.get(p.parent) if p.parent else None, **shared} for p in reg.plans
    }


KEPT_NOTE = "master_changed_elsewhere"  # batch --resume reused a result after a master change elsewhere
_KEPT_REASON = (
    "quy hoạch tỉnh đã thay đổi nhưng không ở phạm vi quy hoạch này: giữ kết quả lần kiểm tra trước",
    "the master plan changed, but not where this plan lies: the earlier check's results stand",
)
_INPUT_NAMES = {
    "plan": ("quy hoạch", "the plan"),
    "master": ("quy hoạch tỉnh", "the master plan"),
    "parent": ("quy hoạch cấp trên", "the parent plan"),
    "rules": ("bảng quy tắc", "the rules"),
    "taxonomy": ("bảng mã loại đất", "the taxonomy"),
    # which exceptions (CONTRACT §10) run on the day; results that record none (batch) skip it
    "exceptions": ("ngoại lệ", "the exceptions"),
}


def review_status(result: Result | None, now: dict[str, str | None], english: bool = False) -> tuple[str, str | None]:
    """(review status, reason) for an in-force or draft plan."""
    if result is None:
        return "not_checked", None
    if result.status == "failed":
        return "failed", result.reason
    if result.inputs is None:
        return "outdated", (
            "made by an earlier kgspatial that did not record its inputs"
            if english
            else "kết quả cũ, không ghi lại dữ liệu đầu vào"
        )
    changed = [
        key
        for key in _INPUT_NAMES
        if result.inputs.get(key) != now.get(key) and (key != "exceptions" or key in result.inputs)
    ]
    if changed:
        names = [_INPUT_NAMES[k][1 if english else 0] for k in changed]
        return "outdated", ("changed since the check: " if english else "đã thay đổi sau lần kiểm tra: ") + ", ".join(
            names
        )
    return ("needs_adjustment" if result.open_conflicts else "consistent"), None


def results_from_batch_dir(batch_dir: str | Path) -> dict[str, Result]:
    """The results a batch output folder holds: its summary.json and each plan's input record."""
    from .batch import STATE_FILE

    batch_dir = Path(batch_dir)
    summary_path = batch_dir / "summary.json"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        rows = summary["by_plan"]
    except FileNotFoundError:
        raise InputError(f"--results {batch_dir.name}: no summary.json; give the --out folder of a batch run") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"--results {batch_dir.name}: summary.json is not a batch summary") from None
    results = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("plan_id"), str):
            continue
        state = None
        try:
            state = json.loads((batch_dir / row["plan_id"] / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        results[row["plan_id"]] = Result(
            status=str(row.get("status") or "checked"),
            reason=row.get("reason"),
            open_conflicts=int(row.get("conflicts") or 0),
            conflict_area_m2=float(row.get("conflict_area_m2") or 0.0),
            conflict_length_m=float(row.get("conflict_length_m") or 0.0),
            conflict_points=int(row.get("conflict_points") or 0),
            inputs=state.get("inputs") if isinstance(state, dict) else None,
            note=row.get("note") if isinstance(row.get("note"), str) else None,
        )
    return results


def results_from_records(records, inputs: dict[str, dict]) -> dict[str, Result]:
    """The results of the batch just run (kgspatial.batch PlanRecords), made from `inputs`
    (review_inputs of the run)."""
    from .exceptions import open_rows as still_open

    out = {}
    for rec in records:
        frame = rec.conflicts
        # Rows a decision excepted (CONTRACT §10) do not make a plan need adjustment.
        open_rows = (
            frame[(frame["verdict"] == "conflict") & still_open(frame)] if frame is not None and len(frame) else None
        )
        out[rec.id] = Result(
            status=rec.status,
            reason=rec.reason,
            open_conflicts=0 if open_rows is None else int(len(open_rows)),
            conflict_area_m2=0.0 if open_rows is None else float(open_rows["area_m2"].sum()),
            conflict_length_m=0.0 if open_rows is None else float(open_rows["length_m"].sum()),
            conflict_points=0 if open_rows is None else int((open_rows["kind"] == "point").sum()),
            inputs=inputs[rec.id] if rec.status != "failed" else None,
            note=getattr(rec, "note", None),
        )
    return out


def build_register(
    reg: Registry,
    on: dt.date,
    results: dict[str, Result] | None = None,
    english: bool = False,
    transitions: tuple[Transition, ...] | None = None,
    inputs: dict[str, dict] | None = None,
) -> dict:
    """register.json's content: every plan's legal and review status on the date. `inputs`:
    review_inputs(reg), when the caller has it already."""
    transitions = transitions if transitions is not None else load_transitions()
    results = results or {}
    if results and inputs is None:
        inputs = review_inputs(reg)
    rows = []
    for plan in reg.plans:
        legal = legal_status(plan, reg, on, transitions, english)
        result = results.get(plan.id)
        if legal.status in {"in_force", "draft"}:
            review, reason = review_status(result, inputs[plan.id] if result else {}, english)
            if reason is None and result is not None and result.note == KEPT_NOTE:
                reason = _KEPT_REASON[1 if english else 0]
        else:
            review, reason = "not_required", None
        due = plan.review_due or reg.profile.review_deadline
        counted = result is not None and result.status != "failed"  # a failed check counts nothing
        rows.append(
            {
                "id": plan.id,
                "name": plan.name,
                "type": plan.type,
                "decision": plan.decision,
                "approved": _iso(plan.approved),
                "authority": plan.authority,
                "legal_status": legal.status,
                "basis": legal.basis,
                "since": _iso(legal.since),
                "review_status": review,
                "review_reason": reason,
                "review_due": _iso(due),
                "result": None if result is None else ("kept" if result.note == KEPT_NOTE else result.status),
                "overdue": bool(due is not None and on > due and review in OVERDUE_WHEN),
                "conflicts": result.open_conflicts if counted else None,
                "conflict_area_m2": round(result.conflict_area_m2, 3) if counted else None,
                "conflict_length_m": round(result.conflict_length_m, 3) if counted else None,
                "conflict_points": result.conflict_points if counted else None,
                "parent": plan.parent,
                "superseded_by": plan.superseded_by,
                "horizon": plan.horizon,
                "adjustments": [a.model_dump(mode="json") for a in plan.adjustments],
            }
        )
    return {
        "on": on.isoformat(),
        "province": reg.province,
        "province_title": reg.profile.title,
        "master_plan": reg.profile.master_plan,
        "plans": rows,
        "counts": _counts(rows),
    }


def _counts(rows: list[dict]) -> dict[str, Any]:
    return {
        "legal_status": {s: sum(r["legal_status"] == s for r in rows) for s in LEGAL_STATUSES},
        "review_status": {s: sum(r["review_status"] == s for r in rows) for s in REVIEW_STATUSES},
        "overdue": sum(r["overdue"] for r in rows),
    }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def public_list(register: dict) -> list[dict]:
    """The plans to announce: expired or abolished (Art. 59 of the Planning Law)."""
    return [r for r in register["plans"] if r["legal_status"] in {"expired", "abolished"}]


def to_adjust(register: dict) -> list[dict]:
    return [r for r in register["plans"] if r["review_status"] in OVERDUE_WHEN]


def run_register(
    registry: str | Path,
    out: str | Path,
    on: dt.date | None = None,
    results_dir: str | Path | None = None,
    english: bool = False,
) -> dict:
    """`kgspatial register`: the registry validated first (nothing written when it is not), then
    register.json, .xlsx, .html and .pdf in `out`, all or none."""
    from .output import staged_output
    from .registry import load_registry
    from .reports.register import write_register_files

    reg = load_registry(registry)
    transitions = load_transitions()
    results = results_from_batch_dir(results_dir) if results_dir is not None else None
    register = build_register(reg, on or dt.date.today(), results, english, transitions)
    with staged_output(out) as stage:
        write_register_files(register, stage, english=english)
    return register
