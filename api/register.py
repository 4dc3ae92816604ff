"""The plan register in the service (CONTRACT §7): plan records read as registry entries, their
latest checks as results, and kgspatial.register's statuses worked out over them.

Validation is the registry's own (kgspatial.registry.check_plan_entry), so a plan uploaded here
is refused for exactly what a registry file would be refused for. Layers never change once
stored, so "outdated" compares content digests of the layers a check used with those a check
would use now (the newest master plan and rules table, the plan's parent, the taxonomy).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import unicodedata
from pathlib import Path

from pydantic import ValidationError

from kgspatial.errors import RegistryError
from kgspatial.register import Result, _counts, build_register, load_transitions
from kgspatial.registry import REGISTER_KEYS, LayerEntry, PlanEntry, Registry, check_plan_entry

NAMING_KEYS = ("decision", "approved", "authority")
# What PATCH /plans/{id} may change: what names the plan and what it is in law, never its layer
# or how it is read (a check made from it would no longer describe it).
EDITABLE = ("name", "plan_type", *NAMING_KEYS, *sorted(REGISTER_KEYS))
VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")  # the province's day, not the server's
SOURCE = "thông tin quy hoạch không hợp lệ / invalid plan keys"


def nfc(value):
    """JSON as sent, its text in Unicode NFC (as uploads' form fields and read layers are): a
    decision typed on a Mac (NFD) must match and sort as the same words."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [nfc(v) for v in value]
    if isinstance(value, dict):
        return {nfc(k): nfc(v) for k, v in value.items()}
    return value


def today() -> dt.date:
    return dt.datetime.now(VN_TZ).date()


def form_values(fields: dict[str, str]) -> tuple[dict, list[str]]:
    """The naming and register keys of an upload form (text fields; `adjustments` is JSON).
    An empty field is a field not given."""
    values: dict = {}
    problems: list[str] = []
    for key in (*NAMING_KEYS, *sorted(REGISTER_KEYS)):
        text = fields.get(key)
        if text is None or text == "":
            continue
        if key == "adjustments":
            try:
                values[key] = json.loads(text)
            except ValueError as exc:
                problems.append(
                    f"adjustments: không phải JSON / not JSON ({exc.args[0].split(':')[0]}); give a list"
                    ' such as [{"decision": "12/QĐ-UBND", "approved": "2021-03-04", "note": "..."}]'
                )
        else:
            values[key] = text
    return values, problems


def entry_raw(record: dict) -> dict:
    """A stored plan record as the keys of a registry's plan entry."""
    raw = {
        "id": record["id"],
        "name": record["name"],
        "type": record.get("plan_type") or "",
        "path": record.get("filename") or record["id"],
        "code_field": record.get("code_field"),
        "label_field": record.get("label_field"),
    }
    for key in (*NAMING_KEYS, *REGISTER_KEYS):
        value = record.get(key)
        if value is not None and value != [] and value is not False:
            raw[key] = value
    return raw


def entry_of(record: dict) -> PlanEntry:
    """The plan record as a registry entry (records were validated when stored; one made by an
    earlier release with a looser plan type is taken as it is)."""
    raw = entry_raw(record)
    try:
        return PlanEntry.model_validate(raw)
    except ValidationError:  # e.g. "sectoral_1": kept as stored, the other keys typed
        return PlanEntry.model_validate({**raw, "type": "rural"}).model_copy(update={"type": raw["type"]})


def validated(raw: dict, others: list[PlanEntry], problems: list[str] | None = None) -> PlanEntry:
    """check_plan_entry with the problems found before it (form fields that are not JSON) added."""
    problems = list(problems or [])
    try:
        entry = check_plan_entry(raw, others, source=SOURCE)
    except RegistryError as exc:  # in the service's words: the form field is plan_type
        found = [f"plan_type{p[4:]}" if p.startswith("type:") else p for p in exc.problems]
        raise RegistryError(problems + found, source=SOURCE) from None
    if problems:
        raise RegistryError(problems, source=SOURCE)
    return entry


def stored_values(entry: PlanEntry) -> dict:
    """What the layers table keeps of a validated entry."""
    return {
        "decision": entry.decision,
        "approved": entry.approved.isoformat() if entry.approved else None,
        "authority": entry.authority,
        "register_keys": entry.model_dump(mode="json", include=set(REGISTER_KEYS)),
    }


def linkable(store, principal) -> list[PlanEntry]:
    """The plans a caller's plan may name as parent or successor: those the caller may see (a
    planner naming another planner's plan would learn that it exists)."""
    owner = None if principal.sees_everything else principal.id
    return [entry_of(r) for r in store.list_layers("plan", owner)]


# ---------------------------------------------------------------------------------- digests
def _sha(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def layer_digest(record: dict | None) -> str | None:
    """A layer's content digest: the uploaded file's sha256 (layers stored before it was kept:
    their id, since a stored layer never changes)."""
    if record is None:
        return None
    return (record.get("info") or {}).get("sha256") or f"layer:{record['id']}"


def _profile_digest(province, attr: str, paths) -> str:
    cached = getattr(province, attr, None)
    if cached is None:
        from kgspatial.batch import hash_files

        cached = _sha(hash_files([Path(p) for p in paths if p]))
        setattr(province, attr, cached)
    return cached


def rules_digest(store, province, rules_id: str | None) -> str:
    if rules_id:
        return store.get_rules(rules_id)["sha256"]
    return _profile_digest(province, "_rules_digest", [province.profile.rules])


def taxonomy_digest(province) -> str:
    return _profile_digest(province, "_taxonomy_digest", [province.profile.taxonomy, province.profile.aliases])


def check_inputs(store, province, plan: dict, master_id: str, rules_id: str | None) -> dict:
    """Digests of what a check of `plan` is made from (kept on the check record), and the day
    its exceptions are judged on."""
    parent = _layer_or_none(store, plan.get("parent"))
    day = today()
    return {
        "plan": layer_digest(plan),
        "master": layer_digest(store.get_layer(master_id, "master")),
        "parent": layer_digest(parent),
        "parent_id": parent["id"] if parent else None,
        "rules": rules_digest(store, province, rules_id),
        "taxonomy": taxonomy_digest(province),
        "exceptions": exceptions_state(store.list_exceptions([plan["id"]]), day),
        "on": day.isoformat(),
    }


def _layer_or_none(store, layer_id: str | None) -> dict | None:
    from .store import NotFound

    if not layer_id:
        return None
    try:
        return store.get_layer(layer_id, "plan")
    except NotFound:
        return None


# ---------------------------------------------------------------------------------- register
def _result(check: dict) -> Result:
    """A finished check as the register's result: its open conflict rows from the summary."""
    if check["status"] == "failed":
        return Result("failed", check.get("reason"), 0, 0.0, 0.0, 0, None)
    totals = (check.get("summary") or {}).get("totals") or {}
    return Result(
        "checked",
        None,
        int(totals.get("conflict_pieces") or 0),
        float(totals.get("conflict_area_m2") or 0.0),
        float(totals.get("conflict_length_m") or 0.0),
        int(totals.get("conflict_points") or 0),
        check.get("inputs"),
    )


def _transitions(province):
    """layers/legal_status.yaml, read once per app (a data file of the installation)."""
    if getattr(province, "_transitions", None) is None:
        province._transitions = load_transitions()
    return province._transitions


def service_register(store, province, principal, on: dt.date, english: bool = False) -> dict:
    """register.json's content for the plans the caller may see. Legal status is worked out over
    every plan (a plan is superseded when its successor is approved, whoever owns it)."""
    records = store.list_layers("plan")
    entries = [entry_of(r) for r in records]
    profile = province.profile
    reg = Registry(
        path=Path(profile.path or profile.name),
        province=profile.name,
        profile=profile,
        master=LayerEntry(path=""),
        admin=None,
        admin_previous=None,
        rules=Path(profile.rules),
        plans=entries,
    )
    visible = {r["id"] for r in records if principal.may_see(r)}
    latest = store.latest_finished_checks(sorted(visible))
    master = store.newest_layer("master")
    newest_rules = store.newest_rules()
    by_id = {r["id"]: r for r in records}
    shared = {
        "master": layer_digest(master),
        "rules": rules_digest(store, province, newest_rules["id"] if newest_rules else None),
        "taxonomy": taxonomy_digest(province),
    }
    excepted: dict[str, list[dict]] = {}
    for row in store.list_exceptions(sorted(visible)):
        excepted.setdefault(row["plan_id"], []).append(row)
    now = {
        pid: {
            "plan": layer_digest(by_id[pid]),
            "parent": layer_digest(by_id.get(by_id[pid].get("parent") or "")),
            "exceptions": exceptions_state(excepted.get(pid, []), on),
            **shared,
        }
        for pid in visible
    }
    results = {pid: _result(check) for pid, check in latest.items()}
    register = build_register(
        reg, on, results, english, _transitions(province), inputs={**{e.id: {} for e in entries}, **now}
    )
    rows = [
        dict(row, check_id=latest[row["id"]]["id"] if row["id"] in latest else None)
        for row in register["plans"]
        if row["id"] in visible
    ]
    return {**register, "plans": rows, "counts": _counts(rows)}


def parse_on(text: str | None) -> dt.date:
    """?on=YYYY-MM-DD (default: today in Vietnam); anything else is a 422."""
    from fastapi import HTTPException

    if text is None or text == "":
        return today()
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise HTTPException(
            422, f"ngày {text!r} không hợp lệ / on={text!r} is not a date: give YYYY-MM-DD, e.g. on=2025-12-31"
        ) from None


# ---------------------------------------------------------------------------------- exceptions
EXCEPTION_FIELDS = (
    "plan_id",
    "rule_id",
    "plan_feature",
    "master_feature",
    "decision",
    "until",
    "basis",
    "note",
    "against",
)


def plan_exceptions(rows: list[dict]):
    """Stored exception rows as kgspatial.exceptions.PlanException (validated when stored), each
    carrying its id as `ref`: the check's warnings then name it by id and decision, never by a
    master feature id, which may name defence or security land (CONTRACT §5)."""
    from kgspatial.exceptions import parse_exceptions

    found = parse_exceptions([{k: r.get(k) for k in EXCEPTION_FIELDS} for r in rows], source="exceptions")
    ids = {
        (r["plan_id"], r["rule_id"], r["plan_feature"], r["master_feature"], r.get("against") or "master"): r["id"]
        for r in rows
    }
    return [
        dataclasses.replace(e, ref=ids.get((e.plan_id, e.rule_id, e.plan_feature, e.master_feature, e.against), "?"))
        for e in found
    ]


def exceptions_state(rows: list[dict], on: dt.date) -> str | None:
    """Which of a plan's exceptions run on the day: a check made with another set is outdated
    (an exception added, withdrawn or expired since). None when the plan has none."""
    if not rows:
        return None
    return _sha(sorted((r["id"], not r.get("until") or r["until"] >= on.isoformat()) for r in rows))
