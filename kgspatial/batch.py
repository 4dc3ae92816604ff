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
import shapely

from . import __version__
from .check import (
    CONFLICT_COLUMNS,
    AdminInput,
    CheckOptions,
    CheckResult,
    PlanInput,
    build_context,
    build_summary,
    check_one,
    parent_context,
)
from .errors import InputError, KgSpatialError, say
from .exceptions import open_rows
from .output import CONFLICTS_LAYER, staged_output, write_check_outputs, write_summary
from .prepare import PreparedLayer
from .register import KEPT_NOTE, build_register, results_from_records, review_inputs
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
    note: str | None = None  # KEPT_NOTE: reused although the master plan changed (none of it here)
    summary: dict | None = None  # that plan's summary.json
    conflicts: gpd.GeoDataFrame | None = None  # its conflict rows, analysis CRS
    out_dir: Path | None = None

    @property
    def needs_adjustment(self) -> bool:
        """True when any of the plan's open rows (not excepted, CONTRACT §10) has the verdict "conflict"."""
        if self.conflicts is None or len(self.conflicts) == 0 or "verdict" not in self.conflicts:
            return False
        return bool(((self.conflicts["verdict"] == "conflict") & open_rows(self.conflicts)).any())


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
    hazards: Any = None  # hazards.HazardResult over all plans, when the registry names `hazards`
    projects: Any = None  # projects.ProjectsResult (CONTRACT §9), when the registry lists projects
    indicators: Any = None  # indicators.IndicatorsResult, when it names an indicator table


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
        return sorted(
            p
            for p in path.parent.iterdir()
            if p.is_file() and (p.stem.casefold() == stem or p.name.casefold().startswith(stem + ".shp."))
        )
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
        "master": {
            "entry": reg.master.model_dump(exclude={"path"}),
            "files": hash_files(file_parts(reg.master_spec())),
        },
        "rules": hash_files([reg.rules]),
        "min_area": opts.min_area,
        "taxonomy": hash_files([p for p in (reg.profile.taxonomy, reg.profile.aliases) if p]),
        "analysis_crs": reg.profile.analysis_crs,
    }
    if opts.exact_unreviewed:  # only then: fingerprints of earlier runs stay valid
        data["exact_unreviewed"] = True
    for key in ("admin", "admin_previous"):
        entry = getattr(reg, key)
        data[key] = (
            None
            if entry is None
            else {
                "entry": entry.model_dump(exclude={"path"}),
                "files": hash_files(file_parts(Registry.admin_spec(entry))),
            }
        )
    if reg.hazards is not None:  # the hazards file, its rules table and its rasters
        data["hazards"] = hash_files(_hazard_files(reg.hazards))
    return data


def _hazard_files(path: Path) -> list[Path]:
    """HAZARDS.yaml and the files it names (rules table, rasters), as far as it can be read."""
    import yaml

    files = [path]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names = [data.get("rules")] + [
            layer.get("path") for layer in data.get("layers") or [] if isinstance(layer, dict)
        ]
        files += sorted({(path.parent / n).resolve() for n in names if isinstance(n, str)})
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        pass
    return files


def _plan_fingerprint(plan: PlanEntry, reg: Registry, shared_digest: str, on: datetime.date | None = None) -> dict:
    on = on or datetime.date.today()
    parent = next((p for p in reg.plans if p.id == plan.parent), None) if plan.parent else None
    return {
        "shared": shared_digest,
        "entry": plan.model_dump(mode="json", exclude={"path", *REGISTER_KEYS}),
        "files": hash_files(file_parts(reg.plan_spec(plan))),
        # A plan with a parent is checked against the parent's zones too (CONTRACT §7).
        "parent": None
        if parent is None
        else {
            "id": parent.id,
            "entry": parent.model_dump(mode="json", exclude={"path", *REGISTER_KEYS}),
            "files": hash_files(file_parts(reg.plan_spec(parent))),
        },
        # The plan's exceptions and which still run: an edit or an expiry makes its rows change.
        "exceptions": sorted(
            [*map(str, vars(e).values()), e.applies(on)] for e in reg.exception_list if e.plan_id == plan.id
        ),
    }


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _record(plan: PlanEntry) -> PlanRecord:
    return PlanRecord(
        id=plan.id,
        name=plan.name,
        type=plan.type,
        path=plan.path,
        decision=plan.decision,
        approved=plan.approved,
        authority=plan.authority,
    )


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


def _state(out_dir: Path) -> dict | None:
    try:
        state = json.loads((out_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


SNAPSHOT_DIR = ".kgspatial-master"  # DIR/.kgspatial-master/<digest>.gpkg: the master the results were made with


def _keep_master_snapshot(out: Path, master: PreparedLayer, digest: str, crs) -> None:
    """The master plan's zones as this run used them (canonical codes, analysis CRS), so that the
    next --resume can tell what changed in it. Written only when the master changed."""
    folder = out / SNAPSHOT_DIR
    target = folder / f"{digest}.gpkg"
    if target.is_file():
        return
    from .engine import code_labels
    from .output import write_conflicts_gpkg

    folder.mkdir(parents=True, exist_ok=True)
    frame = gpd.GeoDataFrame(
        {
            "code": pd.Series(code_labels(master), dtype=object),
            "label": pd.Series(master.labels, dtype=object),
            "feature": pd.Series(master.feature_ids, dtype=object),
        },
        geometry=gpd.GeoSeries(master.geoms, crs=crs),
    )
    part = folder / f".{digest}.part.gpkg"
    write_conflicts_gpkg(frame, part, layer="master")
    os.replace(part, target)
    for old in folder.iterdir():
        if old != target:
            old.unlink(missing_ok=True)


def _read_master_snapshot(out: Path, digest: str) -> PreparedLayer | None:
    path = out / SNAPSHOT_DIR / f"{digest}.gpkg"
    try:
        frame = pyogrio.read_dataframe(path, layer="master")
    except (OSError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError):
        return None
    from .prepare import POLYGON

    n = len(frame)
    codes = frame["code"].fillna("").astype(str).to_numpy(dtype=object)
    return PreparedLayer(
        name="master",
        geoms=np.asarray(frame.geometry.values, dtype=object),
        codes=codes,
        raw_codes=codes,
        labels=frame["label"].fillna("").astype(str).to_numpy(dtype=object),
        feature_ids=frame["feature"].fillna("").astype(str).to_numpy(dtype=object),
        kinds=np.full(n, POLYGON, dtype=np.int8),
    )


def _renamed_pieces(old: PreparedLayer, new: PreparedLayer, jobs: int) -> np.ndarray:
    """Land where both versions have a zone of the same code but another label or feature id: no
    change of use (kgspatial diff ignores it), but conflict rows carry `master_label` and
    `master_feature`, so a plan on it must be checked again to say the new ones."""
    from .diff import _polygonal
    from .engine import code_labels, intersect_pairs

    li, ri = shapely.STRtree(new.geoms).query(old.geoms, predicate="intersects")
    same = code_labels(old)[li] == code_labels(new)[ri]
    other = same & ((old.labels[li] != new.labels[ri]) | (old.feature_ids[li] != new.feature_ids[ri]))
    if not other.any():
        return np.zeros(0, dtype=object)
    geoms = _polygonal(intersect_pairs(old.geoms, old.kinds, new.geoms, li[other], ri[other], jobs).geoms)
    return geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]


def _untouched_by_master_changes(
    out: Path,
    ctx,
    check_opts: CheckOptions,
    reg: Registry,
    candidates: list[tuple[PlanEntry, dict]],
    opts: BatchOptions,
    events: BatchEvents,
) -> tuple[list[tuple[PlanEntry, dict]], list[PlanEntry]]:
    """Split the plans that saw only the master plan change into those that touch none of its
    changed, added or removed pieces (results kept) and the others (checked again). Without the
    snapshot of the master their results were made with, every one is checked again."""
    from .check import read_plan
    from .diff import diff_prepared

    kept: list[tuple[PlanEntry, dict]] = []
    again: list[PlanEntry] = []
    by_master: dict[str, list[tuple[PlanEntry, dict]]] = {}
    for plan, state in candidates:
        by_master.setdefault(str(state.get("master")), []).append((plan, state))
    for digest, group in by_master.items():
        before = _read_master_snapshot(out, digest)
        if before is None:
            again += [plan for plan, _ in group]
            continue
        events.message("so sánh quy hoạch tỉnh với lần trước / comparing the master plan with the last run's")
        changes = diff_prepared(before, ctx.master, opts.jobs)
        pieces = np.concatenate(
            [changes["geometry"].to_numpy(dtype=object), _renamed_pieces(before, ctx.master, opts.jobs)]
        )
        events.message(
            f"quy hoạch tỉnh thay đổi / master plan changes: {len(pieces)} piece(s),"
            f" {float(shapely.area(pieces).sum()) / 1e4:,.2f} ha"
        )
        tree = shapely.STRtree(pieces)
        for plan, state in group:
            box = state.get("bbox")
            if len(pieces) == 0 or (
                isinstance(box, list) and len(box) == 4 and len(tree.query(shapely.box(*box))) == 0
            ):
                kept.append((plan, state))  # not even near a change: the plan is not read
                continue
            try:
                _, layer, _ = read_plan(ctx, _plan_input(reg, plan), check_opts)
            except Exception:  # noqa: BLE001  (the check proper will say why)
                again.append(plan)
                continue
            touching, _ = tree.query(layer.geoms, predicate="intersects")
            (again.append(plan) if len(touching) else kept.append((plan, state)))
    return kept, again


def _optional(module: str, name: str):
    """A presenter function from a module that may not exist yet in this installation."""
    try:
        mod = importlib.import_module(f"kgspatial.{module}")
    except ImportError:
        return None
    return getattr(mod, name, None)


def _check_options(reg: Registry, opts: BatchOptions) -> CheckOptions:
    admin = (
        AdminInput(Registry.admin_spec(reg.admin), reg.admin.code_field, reg.admin.name_field) if reg.admin else None
    )
    admin_prev = (
        AdminInput(
            Registry.admin_spec(reg.admin_previous), reg.admin_previous.code_field, reg.admin_previous.name_field
        )
        if reg.admin_previous
        else None
    )
    return CheckOptions(
        master=reg.master_spec(),
        plans=[],
        master_field=reg.master.code_field,
        master_label_field=reg.master.label_field,
        master_id_field=reg.master.id_field,
        rules=str(reg.rules),
        admin=admin,
        admin_previous=admin_prev,
        assume_crs=reg.master.assume_crs,
        encoding=reg.master.encoding,
        min_area=opts.min_area,
        jobs=1,
        engine=opts.engine,
        profile=reg.profile.name,
        master_checks=opts.master_checks,
        exceptions=list(reg.exception_list),
        exact_unreviewed=opts.exact_unreviewed,
    )


def _plan_input(reg: Registry, plan: PlanEntry) -> PlanInput:
    return PlanInput(
        path=reg.plan_spec(plan),
        plan_id=plan.id,
        code_field=plan.code_field,
        label_field=plan.label_field,
        id_field=plan.id_field,
        encoding=plan.encoding,
        assume_crs=plan.assume_crs,
    )


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
        raise InputError.say(
            f"--report: không có định dạng {', '.join(bad)}; dùng {', '.join(REPORT_FORMATS)}",
            f"--report: unknown format(s) {', '.join(bad)}; use {', '.join(REPORT_FORMATS)}",
        )
    if opts.jobs < 1:
        raise InputError.say("--jobs phải từ 1 trở lên", "--jobs must be 1 or more")
    out = Path(opts.out)
    if out.exists() and not out.is_dir():
        raise InputError.say(f"--out {out} đã có và không phải là thư mục", f"--out {out} exists and is not a folder")

    check_opts = _check_options(reg, opts)
    events.message("đọc quy hoạch tỉnh và đơn vị hành chính / reading master plan and units")
    try:
        ctx = build_context(check_opts, events.message)
    except InputError as exc:
        hinted = registry_hint(str(exc), "master.assume_crs")
        if hinted == str(exc):
            raise
        raise type(exc)(hinted) from None
    shared = _shared_fingerprint(reg, opts)
    shared_digest = _digest(shared)
    # The same without the master's files: a plan whose "rest" is unchanged has only seen the
    # master plan change, and need not be checked again if it touches none of the changes.
    master_digest = _digest(shared["master"]["files"])
    rest_digest = _digest({**shared, "master": {"entry": shared["master"]["entry"]}})
    from .projects import read_extras

    extras = read_extras(reg, ctx)  # §9: bad projects or indicators stop the run before any work
    screening = None
    if reg.hazards is not None:
        from .hazards import Screening, load_hazards

        screening = Screening(load_hazards(reg.hazards, ctx.taxonomy, written=str(reg.hazards)), ctx.analysis_crs)
    try:
        return _run_registry(
            opts,
            events,
            reg,
            formats,
            out,
            check_opts,
            ctx,
            shared_digest,
            master_digest,
            rest_digest,
            screening,
            extras,
        )
    finally:
        if screening is not None:
            screening.close()


def _run_registry(
    opts, events, reg, formats, out, check_opts, ctx, shared_digest, master_digest, rest_digest, screening, extras
) -> BatchResult:
    from .projects import assess_extras

    hazard_frames: dict[str, gpd.GeoDataFrame] = {}
    hazard_notes: dict[str, list[str]] = {}
    units_list = [
        (u, prefix) for u, prefix in ((ctx.admin, "admin"), (ctx.admin_previous, "admin_prev")) if u is not None
    ]

    records = {p.id: _record(p) for p in reg.plans}
    parts: dict[str, dict] = {}
    frames: dict[str, gpd.GeoDataFrame] = {}
    prepared: dict[str, object] = {}
    fingerprints: dict[str, str] = {}
    rests: dict[str, str] = {}
    todo: list[PlanEntry] = []
    check_results: dict[str, CheckResult | None] = {}
    states: dict[str, dict] = {}
    master_changed: list[tuple[PlanEntry, dict]] = []
    events.start(len(reg.plans))

    def reuse(plan: PlanEntry, stored) -> None:
        rec = records[plan.id]
        state, summary, conflicts = stored
        states[plan.id] = state
        rec.status, rec.summary = "unchanged", summary
        rec.conflicts = gpd.GeoDataFrame(conflicts, geometry="geometry", crs=ctx.analysis_crs)
        if screening is not None and (rec.out_dir / "hazards.gpkg").is_file():
            hazard_frames[plan.id] = gpd.GeoDataFrame(
                pyogrio.read_dataframe(rec.out_dir / "hazards.gpkg", layer="hazards"),
                geometry="geometry",
                crs=ctx.analysis_crs,
            )
            hazard_notes[plan.id] = list((summary.get("hazards") or {}).get("warnings", []))
        parts[plan.id] = state["part"]
        frames[plan.id] = rec.conflicts
        events.plan_done(rec, int(state.get("features", 0)))

    for plan in reg.plans:
        rec = records[plan.id]
        rec.out_dir = out / plan.id
        try:
            fingerprints[plan.id] = _digest(_plan_fingerprint(plan, reg, shared_digest))
            rests[plan.id] = _digest(_plan_fingerprint(plan, reg, rest_digest))
        except OSError as exc:  # pragma: no cover - files vanished since validation
            fingerprints[plan.id] = rests[plan.id] = f"unhashable: {exc}"
        stored = _stored(rec.out_dir, fingerprints[plan.id]) if opts.resume else None
        if stored is not None:
            reuse(plan, stored)
            continue
        earlier = _state(rec.out_dir) if opts.resume else None
        if earlier and earlier.get("fingerprint_rest") == rests[plan.id] and earlier.get("master") != master_digest:
            master_changed.append((plan, earlier))
        else:
            todo.append(plan)

    if master_changed:  # CONTRACT §7: only the plans that touch a changed piece are checked again
        kept, again = _untouched_by_master_changes(out, ctx, check_opts, reg, master_changed, opts, events)
        for plan, state in kept:
            stored = _stored(records[plan.id].out_dir, state["fingerprint"])
            if stored is None:
                todo.append(plan)
                continue
            records[plan.id].note = KEPT_NOTE
            reuse(plan, stored)
        todo += again
        order = {p.id: i for i, p in enumerate(reg.plans)}
        todo.sort(key=lambda p: order[p.id])

    # The parents of the plans to check, read once each: their zones are a second master (CONTRACT §7).
    by_id = {p.id: p for p in reg.plans}
    parent_ctxs: dict[str, object] = {}
    for parent_id in dict.fromkeys(p.parent for p in todo if p.parent):
        events.message(f"đọc quy hoạch cấp trên / reading parent plan {parent_id}")
        try:
            parent_ctxs[parent_id] = parent_context(ctx, _plan_input(reg, by_id[parent_id]), check_opts)
        except KgSpatialError as exc:
            parent_ctxs[parent_id] = registry_hint(str(exc), f"assume_crs of plan {parent_id!r}")
        except Exception as exc:  # noqa: BLE001  (one unreadable parent fails its children only)
            parent_ctxs[parent_id] = f"{type(exc).__name__}: {exc}"

    def work(plan: PlanEntry):
        parents = []
        if plan.parent:
            parent = parent_ctxs[plan.parent]
            if isinstance(parent, str):
                raise InputError(
                    f"quy hoạch cấp trên {plan.parent} không đọc được / the parent plan"
                    f" {plan.parent} could not be read: {parent}"
                )
            parents.append((plan.parent, parent))
        return check_one(ctx, _plan_input(reg, plan), check_opts, min_area=plan.min_area, parents=parents)

    workers = max(1, min(opts.jobs, len(todo)))
    with plan_executor(opts.scheduler, workers) as (pool, remote):
        futures = {
            (
                pool.submit(check_on_worker, check_opts, _plan_input(reg, plan), plan.min_area)
                if remote
                else pool.submit(work, plan)
            ): plan
            for plan in todo
        }
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
            hazards = None
            if screening is not None:  # in this thread: one rasterio dataset is not shared across threads
                try:
                    hazard_frames[plan.id], hazard_notes[plan.id] = screening.plan(layer, plan.id, units_list)
                except KgSpatialError as exc:
                    _fail(rec, str(exc))
                    events.plan_done(rec, 0)
                    continue
                hazards = screening.result([hazard_frames[plan.id]], hazard_notes[plan.id])
            # Writing happens here, in the caller's thread: presenters (matplotlib) are not thread-safe.
            try:
                check_results[plan.id] = _write_plan(ctx, check_opts, rec, frame, part, layer, opts, hazards)
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
    conflicts = (
        gpd.GeoDataFrame(pd.concat(to_join, ignore_index=True), geometry="geometry", crs=ctx.analysis_crs)
        if to_join
        else empty
    )
    summary = province_summary(
        ctx,
        check_opts,
        reg,
        plans,
        conflicts,
        [parts[p.id] for p in done],
        [prepared[p.id] for p in done if p.id in prepared],
    )
    hazards = None
    if screening is not None:
        hazards = screening.result(
            [hazard_frames[p.id] for p in done if p.id in hazard_frames],
            [w for p in done for w in hazard_notes.get(p.id, [])],
        )
        summary["hazards"] = hazards.summary
        summary["warnings"] += hazards.summary["warnings"]
        summary["transformations"] = sorted(
            set(summary["transformations"]) | {layer["transformation"] for layer in hazards.layers}
        )
    exit_code = (
        1
        if (
            summary["failed"]
            or ((conflicts["verdict"] == "conflict") & open_rows(conflicts)).any()
            or (hazards is not None and hazards.exit_code)
        )
        else 0
    )
    show = _as_written(reg, opts.registry)
    summary = show(summary)
    for rec in plans:
        rec.path, rec.reason = show(rec.path), show(rec.reason)
    result = BatchResult(
        province=reg.province,
        registry_path=Path(opts.registry),
        out=out,
        plans=plans,
        summary=summary,
        conflicts=conflicts,
        master=ctx.master,
        taxonomy=ctx.taxonomy,
        rules=ctx.rules,
        exit_code=exit_code,
        hazards=hazards,
    )
    inputs = review_inputs(reg)  # what the register's review status compares with, hashed once
    for rec in plans:
        report_formats = formats
        if rec.status == "checked":
            layer = prepared[rec.id]
            states[rec.id] = {
                "fingerprint": fingerprints[rec.id],
                "fingerprint_rest": rests[rec.id],
                "master": master_digest,
                "plan_id": rec.id,
                "features": len(layer),
                "bbox": [float(v) for v in shapely.total_bounds(layer.geoms)],
                "inputs": inputs[rec.id],
                "part": json.loads(json.dumps(parts[rec.id], default=_json_default)),
            }
        elif rec.status == "unchanged":  # reused; only reports asked for now and missing are written
            report_formats = tuple(f for f in formats if not (rec.out_dir / f"report.{f}").is_file())
            if rec.note == KEPT_NOTE:  # made against the previous master: now they stand for this one
                states[rec.id] = {
                    **states[rec.id],
                    "fingerprint": fingerprints[rec.id],
                    "master": master_digest,
                    "inputs": inputs[rec.id],
                }
            elif not report_formats:
                continue
        else:
            continue
        events.message(
            f"{rec.id}: ghi báo cáo / writing reports" if report_formats else f"{rec.id}: ghi kết quả / writing"
        )
        try:
            _finish_plan(rec, result, check_results.get(rec.id), states[rec.id], report_formats, opts.english)
        except Exception as exc:  # noqa: BLE001  (a report that fails must not lose the province report)
            events.message(f"{rec.id}: báo cáo lỗi / report failed: {type(exc).__name__}: {exc}")
            summary.setdefault("warnings", []).append(f"{rec.id}: plan report failed: {type(exc).__name__}: {exc}")
    result.register = build_register(
        reg, datetime.date.today(), results_from_records(plans, inputs), opts.english, inputs=inputs
    )
    summary["register"] = {"on": result.register["on"], **result.register["counts"]}
    result.projects, result.indicators = assess_extras(ctx, reg, extras, datetime.date.today(), prepared, screening)
    for key, part in (("projects", result.projects), ("indicators", result.indicators)):
        if part is not None:
            summary[key] = {"on": part.on.isoformat(), **part.counts()}
            summary.setdefault("warnings", []).extend(part.warnings)
            result.exit_code = max(result.exit_code, part.exit_code)
    events.message("ghi báo cáo tỉnh / writing province outputs")
    write_province_outputs(
        result,
        formats,
        english=opts.english,
        admin=ctx.admin,
        plans=[prepared[p.id] for p in plans if p.id in prepared],
    )
    _keep_master_snapshot(out, ctx.master, master_digest, ctx.analysis_crs)
    return result


REPORT_FORMATS = ("html", "xlsx", "pdf")

_ASSUME_CRS_HINT = re.compile(r"give one with --assume-crs(?:, e\.g\. --assume-crs (\S+))?")
_ENCODING_OPTION = re.compile(r"--(?:master-)?encoding\b")
# The Vietnamese halves of the same messages (kgspatial.io).
_ASSUME_CRS_HINT_VI = re.compile(r"hãy khai báo bằng tùy chọn --assume-crs(?:, ví dụ --assume-crs (\S+))?")
_ENCODING_OPTION_VI = re.compile(r"tùy chọn --(?:master-)?encoding\b")


def registry_hint(message: str, key: str) -> str:
    """Point a "no CRS" message at the registry key that fixes it.

    The readers' message names `check`'s option --assume-crs; `batch` has no such option: the
    CRS of a layer without one is the `assume_crs` key of its registry entry.
    """

    def repl(match: re.Match) -> str:
        example = f", e.g. assume_crs: {match.group(1)}" if match.group(1) else ""
        return f"give one with the registry key {key}{example}"

    def repl_vi(match: re.Match) -> str:
        example = f", ví dụ assume_crs: {match.group(1)}" if match.group(1) else ""
        return f"hãy khai báo bằng khóa {vi_key} trong danh mục{example}"

    vi_key = key.replace(" of plan ", " của quy hoạch ")
    message = _ASSUME_CRS_HINT_VI.sub(repl_vi, message)
    message = _ENCODING_OPTION_VI.sub(f"khóa {vi_key.replace('assume_crs', 'encoding')} trong danh mục", message)
    # The same for an encoding the text contradicts: `encoding` of the same registry entry.
    return _ENCODING_OPTION.sub(
        f"the registry key {key.replace('assume_crs', 'encoding')}", _ASSUME_CRS_HINT.sub(repl, message)
    )


def _as_written(reg: Registry, given: str | Path):
    """A function giving text, lists and dicts with this machine's absolute paths replaced by
    the paths as the user wrote them: the registry as given, its entries relative to its folder
    (as written in it), the profile's files under `layers/`.  Reports travel to other offices."""
    swaps = [
        (str(reg.path), "\0"),
        (str(reg.path.parent) + os.sep, ""),
        (str(default_layers_dir()) + os.sep, "layers" + os.sep),
        ("\0", str(given)),
    ]

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


def _write_plan(
    ctx, check_opts: CheckOptions, rec: PlanRecord, frame, part, layer, opts: BatchOptions, hazards=None
) -> None:
    """conflicts.gpkg, summary.json, map.html (and hazards.gpkg) of one plan, as `kgspatial check`
    writes them."""
    summary = build_summary(ctx, check_opts, frame, [part], [layer])
    if hazards is not None:
        summary["hazards"] = hazards.summary
        summary["warnings"] += hazards.summary["warnings"]
    result = CheckResult(
        conflicts=frame,
        summary=summary,
        plans=[layer],
        master=ctx.master,
        taxonomy=ctx.taxonomy,
        rules=ctx.rules,
        hazards=hazards,
    )
    write_map = _optional("maps", "write_map") if opts.plan_maps else None

    def extra(stage: Path) -> None:
        if write_map is None:
            return
        try:
            write_map(
                result,
                stage / "map.html",
                admin=ctx.admin,
                plan_names={rec.id: rec.name},
                title=f"{rec.name} ({rec.id})",
            )
        except Exception as exc:  # noqa: BLE001  (a map is a view: its failure must not lose the results)
            (stage / "map.html").unlink(missing_ok=True)
            reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            summary["warnings"].append(
                say(f"{rec.id}: không ghi được bản đồ map.html ({reason})", f"map.html not written ({reason})")
            )

    write_check_outputs(result, rec.out_dir, extra=extra)
    rec.status, rec.summary, rec.conflicts = "checked", summary, frame
    return result


def _finish_plan(
    rec: PlanRecord, batch: BatchResult, check_result, state: dict, formats: tuple[str, ...], english: bool
) -> None:
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


def province_summary(
    ctx,
    check_opts: CheckOptions,
    reg: Registry,
    plans: list[PlanRecord],
    conflicts: gpd.GeoDataFrame,
    parts: list[dict],
    prepared: list,
) -> dict:
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
        row = by_plan.get(
            rec.id, {"plan_id": rec.id, "pieces": 0, "area_m2": 0.0, "length_m": 0.0, "points": 0, "conflicts": 0}
        )
        sub = frame[(frame["plan_id"] == rec.id) & (frame["verdict"] == "conflict") & open_rows(frame)]
        rows.append(
            {
                **row,
                "name": rec.name,
                "type": rec.type,
                "decision": rec.decision,
                "approved": rec.approved.isoformat() if rec.approved else None,
                "authority": rec.authority,
                "status": rec.status,
                "reason": rec.reason,
                "note": rec.note,
                "needs_adjustment": rec.needs_adjustment,
                "conflict_area_m2": round(float(sub["area_m2"].sum()), 3),
                "conflict_length_m": round(float(sub["length_m"].sum()), 3),
                "conflict_points": int((sub["kind"] == "point").sum()),
            }
        )
    types = {rec.id: rec.type for rec in plans}
    by_type = []
    for plan_type in sorted(set(types.values())):
        ids = [i for i, t in types.items() if t == plan_type]
        sub = frame[frame["plan_id"].isin(ids) & open_rows(frame)]
        conflict_only = sub[sub["verdict"] == "conflict"]
        by_type.append(
            {
                "type": plan_type,
                "plans": len(ids),
                "pieces": int(len(sub)),
                "area_m2": round(float(sub["area_m2"].sum()), 3),
                "length_m": round(float(sub["length_m"].sum()), 3),
                "points": int((sub["kind"] == "point").sum()),
                "conflicts": int(len(conflict_only)),
                "conflict_area_m2": round(float(conflict_only["area_m2"].sum()), 3),
            }
        )
    failed = [{"id": rec.id, "reason": rec.reason} for rec in plans if rec.status == "failed"]
    counts = {status: sum(r.status == status for r in plans) for status in ("checked", "unchanged", "failed")}
    summary.update(
        {
            "province": reg.province,
            "province_title": reg.profile.title,
            "registry": str(reg.path),
            "plans": {
                "total": len(plans),
                **counts,
                "kept": sum(r.note == KEPT_NOTE for r in plans),
                "needs_adjustment": sum(r.needs_adjustment for r in plans),
            },
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
        }
    )
    return summary


def write_province_outputs(
    result: BatchResult, formats: tuple[str, ...], english: bool = False, admin=None, plans=()
) -> None:
    """DIR/summary.json, the province reports and map; staged so a failure leaves DIR as it was."""
    write_reports = _optional("reports", "write_province_reports") if formats else None
    write_map = _optional("maps", "write_province_map")
    with staged_output(result.out) as stage:
        if write_reports is not None:
            write_reports(result, stage, list(formats), english=english)
        if write_map is not None and result.master is not None:
            try:
                from .projects_map import projects_layers

                write_map(
                    result.master,
                    result.taxonomy,
                    result.conflicts,
                    stage / "map.html",
                    plan_names={p.id: p.name for p in result.plans},
                    plans=list(plans),
                    admin=admin,
                    crs=result.conflicts.crs,
                    extra_layers=projects_layers(result.projects),
                    hazards=result.hazards,
                )
            except Exception as exc:  # noqa: BLE001  (the map is a view: the summary and reports still count)
                (stage / "map.html").unlink(missing_ok=True)
                reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                result.summary["warnings"].append(
                    say(f"không ghi được bản đồ tỉnh map.html ({reason})", f"province map.html not written ({reason})")
                )
        from .projects import write_extras

        write_extras(result.projects, result.indicators, stage, english=english)
        if result.register is not None:
            from .reports.register import write_register_files

            write_register_files(result.register, stage, ("json", *formats), english=english)
        write_summary(result.summary, stage / "summary.json")
