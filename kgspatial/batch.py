"""Batch runs over a province's plan register (CONTRACT §6).

The shared context (master, admin units, rules) is built once and every
registered plan is checked against it; the results are gathered into a
:class:`BatchResult` that the province reports and maps present.
"""
from __future__ import annotations

import datetime
import hashlib
import importlib
import json
import os
import re
import shutil
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from . import __version__
from .check import (CONFLICT_COLUMNS, AdminInput, CheckOptions, CheckResult, PlanInput, build_context,
                    build_summary, check_one)
from .errors import InputError, KgSpatialError
from .output import CONFLICTS_LAYER, staged_output, write_check_outputs, write_summary
from .prepare import PreparedLayer
from .register import build_register, results_from_records, review_inputs
from .registry import REGISTER_KEYS, PlanEntry, Registry, load_registry
from .scaleout import check_on_worker, plan_executor
from .taxonomy import default_layers_dir


@dataclass
class PlanRecord:
    """One registered plan and what its check produced."""

    id: str
    name: str
    type: str
    path: str
    decision: str | None = None
    approved: datetime.date | None = None
    authority: str | None = None
    status: str = "checked"  # "checked" | "failed" | "unchanged" (resumed, results reused)
    reason: str | None = None
    summary: dict | None = None  # that plan's summary.json
    conflicts: gpd.GeoDataFrame | None = None  # its conflict rows, analysis CRS
    out_dir: Path | None = None

    @property
    def needs_adjustment(self) -> bool:
        """True when any of the plan's rows has the verdict "conflict"."""
        if self.conflicts is None or len(self.conflicts) == 0 or "verdict" not in self.conflicts:
            return False
        return bool((self.conflicts["verdict"] == "conflict").any())


@dataclass
class BatchResult:
    """Everything a batch run produced, for the province outputs."""

    province: str
    registry_path: Path
    out: Path
    plans: list[PlanRecord]
    summary: dict
    conflicts: gpd.GeoDataFrame
    master: PreparedLayer | None
    taxonomy: Any = None
    rules: Any = None
    exit_code: int = 0
    register: dict | None = None  # register.json of the day of the run (CONTRACT §7)


# ----------------------------------------------------------------------------------------------
# The run

STATE_FILE = ".kgspatial-inputs.json"
_CHUNK = 1 << 20


@dataclass
class BatchOptions:
    """How to run a registry; the registry itself says what to check."""

    registry: str | Path
    out: str | Path
    jobs: int = 1
    resume: bool = False
    formats: tuple[str, ...] = ("html", "xlsx", "pdf")
    english: bool = False
    engine: str = "pyogrio"
    min_area: float = 1.0
    master_checks: str = "always"  # one master serves every plan: its coverage is worth checking
    plan_maps: bool = True
    exact_unreviewed: bool = False  # exact areas of the code pairs no rule covers (check --exact-unreviewed)
    scheduler: str | None = None  # a Dask scheduler's address: the plans run on its cluster (scaleout.py)


class BatchEvents:
    """Callbacks a presenter (the CLI progress bar) may override; all called from the caller's thread."""

    def start(self, total: int) -> None: ...

    def message(self, text: str) -> None: ...

    def plan_done(self, record: PlanRecord, features: int) -> None: ...

    def finish(self) -> None:
        """All plans are checked (reports come next); may be called more than once."""


def file_parts(spec: str) -> list[Path]:
    """Every file a layer is read from: a shapefile or MapInfo table with all its sidecars, the files
    of a File Geodatabase folder, else the file itself."""
    from .io import split_selector

    path = Path(split_selector(spec)[0])
    if path.suffix.lower() == ".gdb" and path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.suffix.lower() in {".shp", ".tab", ".mif"} and path.parent.is_dir():
        stem = path.stem.casefold()
        return sorted(p for p in path.parent.iterdir()
                      if p.is_file() and (p.stem.casefold() == stem or p.name.casefold().startswith(stem + ".shp.")))
    return [path]


def hash_files(paths: list[Path]) -> dict[str, str]:
    """sha256 of each file's content, keyed by its name (renaming a folder does not re-run a plan)."""
    out = {}
    for p in paths:
        digest = hashlib.sha256()
        try:
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    digest.update(chunk)
            out[p.name] = digest.hexdigest()
        except OSError:
            out[p.name] = "unreadable"
    return out


def _shared_fingerprint(reg: Registry, opts: BatchOptions) -> dict:
    """What every plan's result depends on besides the plan itself."""
    data = {
        "kgspatial_version": __version__,
        "province": reg.province,
        "master": {"entry": reg.master.model_dump(exclude={"path"}), "files": hash_files(file_parts(reg.master_spec()))},
        "rules": hash_files([reg.rules]),
        "min_area": opts.min_area,
        "taxonomy": hash_files([p for p in (reg.profile.taxonomy, reg.profile.aliases) if p]),
        "analysis_crs": reg.profile.analysis_crs,
    }
    if opts.exact_unreviewed:  # only then: fingerprints of earlier runs stay valid
        data["exact_unreviewed"] = True
    for key in ("admin", "admin_previous"):
        entry = getattr(reg, key)
        data[key] = None if entry is None else {
            "entry": entry.model_dump(exclude={"path"}), "files": hash_files(file_parts(Registry.admin_spec(entry)))}
    return data


def _plan_fingerprint(plan: PlanEntry, reg: Registry, shared_digest: str) -> dict:
    return {
        "shared": shared_digest,
        "entry": plan.model_dump(mode="json", exclude={"path", *REGISTER_KEYS}),
        "files": hash_files(file_parts(reg.plan_spec(plan))),
    }


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _record(plan: PlanEntry) -> PlanRecord:
    return PlanRecord(id=plan.id, name=plan.name, type=plan.type, path=plan.path, decision=plan.decision,
                      approved=plan.approved, authority=plan.authority)


def _stored(out_dir: Path, fingerprint: str) -> tuple[dict, dict, gpd.GeoDataFrame] | None:
    """The outputs of an earlier run of a plan, if they were made from the same inputs."""
    state_path = out_dir / STATE_FILE
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state.get("fingerprint") != fingerprint:
            return None
        summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
        conflicts = pyogrio.read_dataframe(out_dir / "conflicts.gpkg", layer=CONFLICTS_LAYER)
    except (OSError, ValueError, KeyError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError):
        return None
    return state, summary, conflicts


def _optional(module: str, name: str):
    """A presenter function from a module that may not exist yet in this installation."""
    try:
        mod = importlib.import_module(f"kgspatial.{module}")
    except ImportError:
        return None
    return getattr(mod, name, None)


def _check_options(reg: Registry, opts: BatchOptions) -> CheckOptions:
    admin = (AdminInput(Registry.admin_spec(reg.admin), reg.admin.code_field, reg.admin.name_field)
             if reg.admin else None)
    admin_prev = (AdminInput(Registry.admin_spec(reg.admin_previous), reg.admin_previous.code_field,
                             reg.admin_previous.name_field) if reg.admin_previous else None)
    return CheckOptions(
        master=reg.master_spec(), plans=[], master_field=reg.master.code_field,
        master_label_field=reg.master.label_field, master_id_field=reg.master.id_field,
        rules=str(reg.rules), admin=admin, admin_previous=admin_prev,
        assume_crs=reg.master.assume_crs, encoding=reg.master.encoding, min_area=opts.min_area,
        jobs=1, engine=opts.engine, profile=reg.profile.name, master_checks=opts.master_checks,
        exact_unreviewed=opts.exact_unreviewed,
    )


def _plan_input(reg: Registry, plan: PlanEntry) -> PlanInput:
    return PlanInput(path=reg.plan_spec(plan), plan_id=plan.id, code_field=plan.code_field,
                     label_field=plan.label_field, id_field=plan.id_field, encoding=plan.encoding,
                     assume_crs=plan.assume_crs)


def run_batch(opts: BatchOptions, events: BatchEvents | None = None) -> BatchResult:
    """Check every registered plan; write DIR/<plan id>/ and the province outputs.

    The registry is validated first (RegistryError, nothing written). A plan that cannot be
    read or checked is recorded as failed with its reason; the others are still checked.
    """
    events = events or BatchEvents()
    reg = load_registry(opts.registry)
    formats = tuple(opts.formats)
    bad = [f for f in formats if f not in REPORT_FORMATS]
    if bad:
        raise InputError(f"--report: unknown format(s) {', '.join(bad)}; use {', '.join(REPORT_FORMATS)}")
    if opts.jobs < 1:
        raise InputError("--jobs must be 1 or more")
    out = Path(opts.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")

    check_opts = _check_options(reg, opts)
    events.message("đọc quy hoạch tỉnh và đơn vị hành chính / reading master plan and units")
    try:
        ctx = build_context(check_opts, events.message)
    except InputError as exc:
        hinted = registry_hint(str(exc), "master.assume_crs")
        if hinted == str(exc):
            raise
        raise type(exc)(hinted) from None
    shared_digest = _digest(_shared_fingerprint(reg, opts))

    records = {p.id: _record(p) for p in reg.plans}
    parts: dict[str, dict] = {}
    frames: dict[str, gpd.GeoDataFrame] = {}
    prepared: dict[str, object] = {}
    fingerprints: dict[str, str] = {}
    todo: list[PlanEntry] = []
    check_results: dict[str, CheckResult | None] = {}
    states: dict[str, dict] = {}
    events.start(len(reg.plans))
    for plan in reg.plans:
        rec = records[plan.id]
        rec.out_dir = out / plan.id
        try:
            fingerprints[plan.id] = _digest(_plan_fingerprint(plan, reg, shared_digest))
        except OSError as exc:  # pragma: no cover - files vanished since validation
            fingerprints[plan.id] = f"unhashable: {exc}"
        stored = _stored(rec.out_dir, fingerprints[plan.id]) if opts.resume else None
        if stored is None:
            todo.append(plan)
            continue
        state, summary, conflicts = stored
        states[plan.id] = state
        rec.status, rec.summary = "unchanged", summary
        rec.conflicts = gpd.GeoDataFrame(conflicts, geometry="geometry", crs=ctx.analysis_crs)
        parts[plan.id] = state["part"]
        frames[plan.id] = rec.conflicts
        events.plan_done(rec, int(state.get("features", 0)))

    def work(plan: PlanEntry):
        return check_one(ctx, _plan_input(reg, plan), check_opts, min_area=plan.min_area)

    workers = max(1, min(opts.jobs, len(todo)))
    with plan_executor(opts.scheduler, workers) as (pool, remote):
        futures = {(pool.submit(check_on_worker, check_opts, _plan_input(reg, plan), plan.min_area) if remote
                    else pool.submit(work, plan)): plan for plan in todo}
        for future in as_completed(futures):
            plan = futures[future]
            rec = records[plan.id]
            try:
                frame, part, layer = future.result()
            except KgSpatialError as exc:
                _fail(rec, registry_hint(str(exc), f"assume_crs of plan {plan.id!r}"))
                events.plan_done(rec, 0)
                continue
            except Exception as exc:  # noqa: BLE001  (GEOS/GDAL errors on one plan must not stop the batch)
                _fail(rec, f"{type(exc).__name__}: {exc}")
                events.plan_done(rec, 0)
                continue
            # Writing happens here, in the caller's thread: presenters (matplotlib) are not thread-safe.
            try:
                check_results[plan.id] = _write_plan(ctx, check_opts, rec, frame, part, layer, opts)
            except Exception as exc:  # noqa: BLE001
                _fail(rec, f"writing outputs failed: {type(exc).__name__}: {exc}")
                events.plan_done(rec, len(layer))
                continue
            parts[plan.id], frames[plan.id], prepared[plan.id] = part, frame, layer
            events.plan_done(rec, len(layer))

    events.finish()
    plans = [records[p.id] for p in reg.plans]
    done = [p for p in plans if p.status != "failed"]
    empty = gpd.GeoDataFrame({c: [] for c in CONFLICT_COLUMNS}, geometry=gpd.GeoSeries([], crs=ctx.analysis_crs))
    to_join = [frames[p.id] for p in done if len(frames[p.id])]
    conflicts = (gpd.GeoDataFrame(pd.concat(to_join, ignore_index=True), geometry="geometry", crs=ctx.analysis_crs)
                 if to_join else empty)
    summary = province_summary(ctx, check_opts, reg, plans, conflicts, [parts[p.id] for p in done],
                               [prepared[p.id] for p in done if p.id in prepared])
    exit_code = 1 if (summary["failed"] or (conflicts["verdict"] == "conflict").any()) else 0
    show = _as_written(reg, opts.registry)
    summary = show(summary)
    for rec in plans:
        rec.path, rec.reason = show(rec.path), show(rec.reason)
    result = BatchResult(province=reg.province, registry_path=Path(opts.registry), out=out, plans=plans, summary=summary,
                         conflicts=conflicts, master=ctx.master, taxonomy=ctx.taxonomy, rules=ctx.rules,
                         exit_code=exit_code)
    inputs = review_inputs(reg)  # what the register's review status compares with, hashed once
    for rec in plans:
        report_formats = formats
        if rec.status == "checked":
            states[rec.id] = {"fingerprint": fingerprints[rec.id], "plan_id": rec.id, "features": len(prepared[rec.id]),
                              "inputs": inputs[rec.id],
                              "part": json.loads(json.dumps(parts[rec.id], default=_json_default))}
        elif rec.status == "unchanged":  # reused; only reports asked for now and missing are written
            report_formats = tuple(f for f in formats if not (rec.out_dir / f"report.{f}").is_file())
            if not report_formats:
                continue
        else:
            continue
        events.message(f"{rec.id}: ghi báo cáo / writing reports" if report_formats else f"{rec.id}: ghi kết quả / writing")
        try:
            _finish_plan(rec, result, check_results.get(rec.id), states[rec.id], report_formats, opts.english)
        except Exception as exc:  # noqa: BLE001  (a report that fails must not lose the province report)
            events.message(f"{rec.id}: báo cáo lỗi / report failed: {type(exc).__name__}: {exc}")
            summary.setdefault("warnings", []).append(f"{rec.id}: plan report failed: {type(exc).__name__}: {exc}")
    result.register = build_register(reg, datetime.date.today(), results_from_records(plans, inputs), opts.english,
                                     inputs=inputs)
    summary["register"] = {"on": result.register["on"], **result.register["counts"]}
    events.message("ghi báo cáo tỉnh / writing province outputs")
    write_province_outputs(result, formats, english=opts.english, admin=ctx.admin,
                           plans=[prepared[p.id] for p in plans if p.id in prepared])
    return result


REPORT_FORMATS = ("html", "xlsx", "pdf")

_ASSUME_CRS_HINT = re.compile(r"give one with --assume-crs(?:, e\.g\. --assume-crs (\S+))?")
_ENCODING_OPTION = re.compile(r"--(?:master-)?encoding\b")


def registry_hint(message: str, key: str) -> str:
    """Point a "no CRS" message at the registry key that fixes it.

    The readers' message names `check`'s option --assume-crs; `batch` has no such option: the
    CRS of a layer without one is the `assume_crs` key of its registry entry.
    """
    def repl(match: re.Match) -> str:
        example = f", e.g. assume_crs: {match.group(1)}" if match.group(1) else ""
        return f"give one with the registry key {key}{example}"

    # The same for an encoding the text contradicts: `encoding` of the same registry entry.
    return _ENCODING_OPTION.sub(f"the registry key {key.replace('assume_crs', 'encoding')}",
                                _ASSUME_CRS_HINT.sub(repl, message))


def _as_written(reg: Registry, given: str | Path):
    """A function giving text, lists and dicts with this machine's absolute paths replaced by
    the paths as the user wrote them: the registry as given, its entries relative to its folder
    (as written in it), the profile's files under `layers/`.  Reports travel to other offices."""
    swaps = [(str(reg.path), "\0"), (str(reg.path.parent) + os.sep, ""),
             (str(default_layers_dir()) + os.sep, "layers" + os.sep), ("\0", str(given))]

    def show(value):
        if isinstance(value, str):
            for old, new in swaps:
                value = value.replace(old, new)
            return value
        if isinstance(value, dict):
            return {k: show(v) for k, v in value.items()}
        if isinstance(value, list):
            return [show(v) for v in value]
        return value

    return show


def _fail(rec: PlanRecord, reason: str) -> None:
    """Record the failure; old outputs of the plan would be mistaken for current ones: remove them."""
    rec.status, rec.reason = "failed", " ".join(reason.split())
    rec.summary = rec.conflicts = None
    if rec.out_dir is not None and (rec.out_dir / STATE_FILE).is_file():
        shutil.rmtree(rec.out_dir, ignore_errors=True)


def _write_plan(ctx, check_opts: CheckOptions, rec: PlanRecord, frame, part, layer, opts: BatchOptions) -> None:
    """conflicts.gpkg, summary.json and map.html of one plan, as `kgspatial check` writes them."""
    summary = build_summary(ctx, check_opts, frame, [part], [layer])
    result = CheckResult(conflicts=frame, summary=summary, plans=[layer], master=ctx.master,
                         taxonomy=ctx.taxonomy, rules=ctx.rules)
    write_map = _optional("maps", "write_map") if opts.plan_maps else None

    def extra(stage: Path) -> None:
        if write_map is None:
            return
        try:
            write_map(result, stage / "map.html", admin=ctx.admin, plan_names={rec.id: rec.name},
                      title=f"{rec.name} ({rec.id})")
        except Exception as exc:  # noqa: BLE001  (a map is a view: its failure must not lose the results)
            (stage / "map.html").unlink(missing_ok=True)
            summary["warnings"].append(f"{rec.id}: map.html not written / không ghi được bản đồ: "
                                       f"{type(exc).__name__}: {' '.join(str(exc).split())}")

    write_check_outputs(result, rec.out_dir, extra=extra)
    rec.status, rec.summary, rec.conflicts = "checked", summary, frame
    return result


def _finish_plan(rec: PlanRecord, batch: BatchResult, check_result, state: dict, formats: tuple[str, ...],
                 english: bool) -> None:
    """The plan's reports (they show the province context, so they come after all plans) and,
    last, the state file that lets --resume reuse the plan: no state, no reuse."""
    write_plan_reports = _optional("reports", "write_plan_reports") if formats else None
    write_check_reports = _optional("reports", "write_check_reports") if formats else None
    with staged_output(rec.out_dir) as stage:
        if write_plan_reports is not None:
            write_plan_reports(rec, batch, stage, list(formats), english=english)
        elif write_check_reports is not None and check_result is not None:
            write_check_reports(check_result, stage, list(formats), english=english)
        (stage / STATE_FILE).write_text(json.dumps(state, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def province_summary(ctx, check_opts: CheckOptions, reg: Registry, plans: list[PlanRecord],
                     conflicts: gpd.GeoDataFrame, parts: list[dict], prepared: list) -> dict:
    """The province summary.json: the check summary over all plans, plus plan metadata,
    totals by plan type, the failed plans and the methodology."""
    summary = build_summary(ctx, check_opts, conflicts, parts, prepared)
    transformations = set(summary["transformations"])
    for rec in plans:
        if rec.status == "unchanged" and rec.summary:
            transformations.update(rec.summary.get("transformations", []))
    summary["transformations"] = sorted(transformations)
    by_plan = {row["plan_id"]: row for row in summary["by_plan"]}
    frame = pd.DataFrame(conflicts.drop(columns="geometry"))
    rows = []
    for rec in plans:
        row = by_plan.get(rec.id, {"plan_id": rec.id, "pieces": 0, "area_m2": 0.0, "length_m": 0.0,
                                   "points": 0, "conflicts": 0})
        sub = frame[(frame["plan_id"] == rec.id) & (frame["verdict"] == "conflict")]
        rows.append({
            **row, "name": rec.name, "type": rec.type, "decision": rec.decision,
            "approved": rec.approved.isoformat() if rec.approved else None, "authority": rec.authority,
            "status": rec.status, "reason": rec.reason, "needs_adjustment": rec.needs_adjustment,
            "conflict_area_m2": round(float(sub["area_m2"].sum()), 3),
            "conflict_length_m": round(float(sub["length_m"].sum()), 3),
            "conflict_points": int((sub["kind"] == "point").sum()),
        })
    types = {rec.id: rec.type for rec in plans}
    by_type = []
    for plan_type in sorted(set(types.values())):
        ids = [i for i, t in types.items() if t == plan_type]
        sub = frame[frame["plan_id"].isin(ids)]
        conflict_only = sub[sub["verdict"] == "conflict"]
        by_type.append({
            "type": plan_type, "plans": len(ids), "pieces": int(len(sub)),
            "area_m2": round(float(sub["area_m2"].sum()), 3), "length_m": round(float(sub["length_m"].sum()), 3),
            "points": int((sub["kind"] == "point").sum()), "conflicts": int(len(conflict_only)),
            "conflict_area_m2": round(float(conflict_only["area_m2"].sum()), 3),
        })
    failed = [{"id": rec.id, "reason": rec.reason} for rec in plans if rec.status == "failed"]
    counts = {status: sum(r.status == status for r in plans) for status in ("checked", "unchanged", "failed")}
    summary.update({
        "province": reg.province,
        "province_title": reg.profile.title,
        "registry": str(reg.path),
        "plans": {"total": len(plans), **counts, "needs_adjustment": sum(r.needs_adjustment for r in plans)},
        "by_plan": rows,
        "by_plan_type": by_type,
        "failed": failed,
        "methodology": {
            "analysis_crs": summary["analysis_crs"],
            "transformation": summary["transformations"],
            "rules": {"path": str(ctx.rules.source), "sha256": ctx.rules.sha256, "count": len(ctx.rules.rules)},
            "software": f"kgspatial {__version__}",
            "date": summary["generated_at"],
            "master_plan": reg.profile.master_plan,
            "min_area_m2": check_opts.min_area,
        },
    })
    return summary


def write_province_outputs(result: BatchResult, formats: tuple[str, ...], english: bool = False, admin=None,
                           plans=()) -> None:
    """DIR/summary.json, the province reports and map; staged so a failure leaves DIR as it was."""
    write_reports = _optional("reports", "write_province_reports") if formats else None
    write_map = _optional("maps", "write_province_map")
    with staged_output(result.out) as stage:
        if write_reports is not None:
            write_reports(result, stage, list(formats), english=english)
        if write_map is not None and result.master is not None:
            try:
                write_map(result.master, result.taxonomy, result.conflicts, stage / "map.html",
                          plan_names={p.id: p.name for p in result.plans}, plans=list(plans), admin=admin,
                          crs=result.conflicts.crs)
            except Exception as exc:  # noqa: BLE001  (the map is a view: the summary and reports still count)
                (stage / "map.html").unlink(missing_ok=True)
                result.summary["warnings"].append(f"province map.html not written / không ghi được bản đồ tỉnh: "
                                                  f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        if result.register is not None:
            from .reports.register import write_register_files

            write_register_files(result.register, stage, ("json", *formats), english=english)
        write_summary(result.summary, stage / "summary.json")
