"""One consistency check, end to end: read -> normalise -> overlay -> admin split -> results.

`run_check` is what the CLI, the batch runner and the web service call; it returns the conflict
rows and the summary, and writes nothing (see output.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import __version__, quality
from . import crs as crs_mod
from .admin import AdminUnits, admin_selector, prepare_admin, split_by_units
from .engine import code_labels, measure, overlay
from .errors import CRSError, InputError, say
from .exceptions import PlanException, apply_exceptions, open_rows, read_exceptions
from .io import file_stem, read_layer, split_selector
from .numfmt import en, number, vn
from .parallel import release_memory
from .prepare import KIND_NAMES, LINE, POINT, POLYGON, PreparedLayer, dropped_notes, field_selector, prepare_layer
from .profile import Profile, load_profile
from .rules import RulesTable, load_rules
from .taxonomy import Taxonomy

CONFLICT_COLUMNS = [
    "conflict_id",
    "plan_id",
    "against",
    "plan_feature",
    "master_feature",
    "plan_code",
    "master_code",
    "plan_label",
    "master_label",
    "rule_id",
    "verdict",
    "severity",
    "reference",
    "kind",
    "area_m2",
    "length_m",
    "share",
]
MASTER = "master"  # `against` of rows found against the master plan (else the parent plan's id, CONTRACT §7)
# CONTRACT §10: whether a decision accepted the row (open | excepted), and which decision.
REVIEW_COLUMNS = ["review", "review_decision"]
ADMIN_COLUMNS = ["admin_code", "admin_name"]
ADMIN_PREV_COLUMNS = ["admin_prev_code", "admin_prev_name"]


@dataclass
class PlanInput:
    path: str
    plan_id: str | None = None  # default: the file stem
    code_field: str | None = None
    label_field: str | None = None
    id_field: str | None = None
    encoding: str | None = None
    assume_crs: str | None = None


@dataclass
class AdminInput:
    path: str
    code_field: str | None = None
    name_field: str | None = None


@dataclass
class CheckOptions:
    master: str
    plans: list[PlanInput]
    master_field: str | None = None
    master_label_field: str | None = None
    master_id_field: str | None = None
    rules: str | None = None
    admin: AdminInput | None = None
    admin_previous: AdminInput | None = None
    analysis_crs: str | None = None
    assume_crs: str | None = None
    encoding: str | None = None  # the master plan's text, over its .cpg; each plan carries its own
    min_area: float = 1.0
    jobs: int = 1
    engine: str = "pyogrio"
    profile: str = "kien-giang"
    master_checks: str = "auto"  # auto | always | never
    # CONTRACT §10: exceptions.csv's path, or exceptions already validated (the service's store)
    exceptions: str | list[PlanException] | None = None
    on: dt.date | None = None  # the day exceptions are judged on (expired or not); default today
    hazards: str | None = None  # HAZARDS.yaml (CONTRACT §8): also screen the plans against it
    # CONTRACT §7: plan id -> its parent plan, checked as a second master (the service's checks;
    # batch runs read each parent once for all its children instead)
    parents: dict[str, PlanInput] = field(default_factory=dict)
    exact_unreviewed: bool = False  # intersect unreviewed pairs for their exact areas (engine.overlay)


@dataclass
class CheckResult:
    conflicts: gpd.GeoDataFrame
    summary: dict
    plans: list[PreparedLayer] = field(default_factory=list)  # inputs, for presenters to draw
    master: PreparedLayer | None = None
    taxonomy: Taxonomy | None = None
    rules: RulesTable | None = None
    admin: AdminUnits | None = None  # the --admin units, for maps to draw
    withheld: object | None = None  # masked copies: the area left out of every drawing (maps.withheld_area)
    hazards: object | None = None  # hazards.HazardResult with --hazards

    @property
    def exit_code(self) -> int:
        """1 when an open conflict (not merely conditional, not excepted) was found, or a `conflict`
        hazard band; slivers do not count."""
        if self.hazards is not None and self.hazards.exit_code:
            return 1
        return 1 if ((self.conflicts["verdict"] == "conflict") & open_rows(self.conflicts)).any() else 0


Progress = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def conflict_ids(
    plan_id: str, plan_idx, master_idx, rule_ids, admin_codes=None, prev_codes=None, point_number=None
) -> np.ndarray:
    """Same inputs, same ids: a hash of what identifies each piece (plan, features, rule, units,
    and for the second point of a multi-point feature on, its number), never of its row number.
    pandas' hash uses a fixed key, so ids are stable across runs."""
    n = len(plan_idx)
    keys = pd.DataFrame(
        {
            "plan": np.full(n, plan_id, dtype=object),
            "p": plan_idx,
            "m": master_idx,
            "r": rule_ids,
            "a": admin_codes if admin_codes is not None else np.full(n, "", dtype=object),
            "b": prev_codes if prev_codes is not None else np.full(n, "", dtype=object),
        }
    )
    hashes = pd.util.hash_pandas_object(keys, index=False).to_numpy(dtype=np.uint64, copy=True)
    later = np.nonzero(point_number)[0] if point_number is not None else []
    if len(later):  # ids of everything else stay what they were
        numbered = keys.iloc[later].assign(k=np.asarray(point_number)[later])
        hashes[later] = pd.util.hash_pandas_object(numbered, index=False).to_numpy(dtype=np.uint64)
    # 16 hex digits per hash, vectorised: nibbles looked up in a table, then read as 16-byte strings
    nibbles = (hashes[:, None] >> np.arange(60, -4, -4, dtype=np.uint64)) & np.uint64(15)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles.astype(np.intp)]
    return np.ascontiguousarray(digits).view("S16").ravel().astype(str).astype(object)


@dataclass
class Context:
    """What all plans of one run share: read and prepared once."""

    profile: Profile
    taxonomy: Taxonomy
    rules: RulesTable
    analysis_crs: object
    master: PreparedLayer
    master_tree: shapely.STRtree
    master_code_index: np.ndarray
    admin: AdminUnits | None
    admin_previous: AdminUnits | None
    master_quality: dict
    extent: object | None
    exceptions: list[PlanException] = field(default_factory=list)
    on: dt.date = field(default_factory=dt.date.today)


def _read_admin(spec: AdminInput, opts: CheckOptions, analysis_crs) -> AdminUnits:
    layer = read_layer(
        spec.path,
        engine=opts.engine,
        assume_crs=opts.assume_crs,
        encoding_option=None,
        select=admin_selector(spec.path, spec.code_field, spec.name_field),
    )
    return prepare_admin(layer, analysis_crs, spec.code_field, spec.name_field)


def build_context(opts: CheckOptions, progress: Progress = _noop) -> Context:
    profile = load_profile(opts.profile)
    taxonomy = profile.load_taxonomy()
    rules = load_rules(opts.rules or profile.rules, taxonomy)
    exceptions = (
        read_exceptions(opts.exceptions) if isinstance(opts.exceptions, (str, Path)) else list(opts.exceptions or [])
    )
    analysis_crs = crs_mod.recognise(opts.analysis_crs or profile.analysis_crs)
    if analysis_crs.is_geographic:
        raise InputError.say(
            f"hệ tọa độ tính toán {crs_mod.crs_label(analysis_crs)} là hệ địa lý (độ): diện tích cần"
            " một hệ tọa độ phẳng, ví dụ EPSG:9207",
            f"analysis CRS {crs_mod.crs_label(analysis_crs)} is geographic: areas need a projected CRS",
        )

    progress("đọc quy hoạch tỉnh / reading master plan")
    master_layer = read_layer(
        opts.master,
        engine=opts.engine,
        encoding=opts.encoding,
        assume_crs=opts.assume_crs,
        encoding_option="--master-encoding",
        select=field_selector(
            opts.master,
            "master",
            opts.master_field,
            opts.master_label_field,
            opts.master_id_field,
            profile.code_fields,
            profile.label_fields,
        ),
    )
    master = prepare_layer(
        master_layer,
        taxonomy,
        analysis_crs,
        code_field=opts.master_field,
        label_field=opts.master_label_field,
        id_field=opts.master_id_field,
        code_candidates=profile.code_fields,
        label_candidates=profile.label_fields,
        role="master",
        jobs=opts.jobs,
    )
    master.info["warnings"] = list(master_layer.warnings)
    if not (master.kinds == POLYGON).any():
        read = master.info["features_read"]
        raise InputError.say(
            f"{opts.master}: quy hoạch tỉnh không có vùng nào có hình học (đã đọc {vn(read)} đối tượng)",
            f"the master plan has no zone with a geometry ({en(read)} feature(s) read)",
        )
    if (master.kinds != POLYGON).any():
        n = int((master.kinds != POLYGON).sum())
        master.info["warnings"].append(
            say(
                f"{opts.master}: bỏ qua {vn(n)} đối tượng không phải vùng (quy hoạch tỉnh gồm các vùng)",
                f"{en(n)} non-polygon feature(s) ignored (a master plan is zones)",
            )
        )
        keep = master.kinds == POLYGON
        for name in ("geoms", "codes", "raw_codes", "labels", "feature_ids", "kinds"):
            setattr(master, name, getattr(master, name)[keep])
    master_code_index = rules.code_indices(master.codes)
    tree = shapely.STRtree(master.geoms)

    admin = admin_prev = None
    if opts.admin:
        progress("đọc đơn vị hành chính / reading administrative units")
        admin = _read_admin(opts.admin, opts, analysis_crs)
    if opts.admin_previous:
        admin_prev = _read_admin(opts.admin_previous, opts, analysis_crs)

    run_master_checks = opts.master_checks == "always" or (
        opts.master_checks == "auto" and len(master) <= quality.MASTER_CHECK_LIMIT
    )
    extent = None
    master_quality: dict = {"checked": False}
    if run_master_checks:
        progress("kiểm tra lớp quy hoạch tỉnh / checking master coverage")
        coverage, extent = quality.master_coverage(master)
        master_quality = {"checked": True, **coverage}
    else:
        master_quality["reason"] = (
            f"{len(master)} zones > {quality.MASTER_CHECK_LIMIT}: use --master-checks always"
            if opts.master_checks == "auto"
            else "--master-checks never"
        )
    release_memory()  # the master's Arrow table, WKB and frame are gone: their pages go back
    return Context(
        profile,
        taxonomy,
        rules,
        analysis_crs,
        master,
        tree,
        master_code_index,
        admin,
        admin_prev,
        master_quality,
        extent,
        exceptions,
        opts.on or dt.date.today(),
    )


def points_apart(geoms: np.ndarray, kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each point of a multi-point feature on its own: its points (wells, stations) may lie in
    different zones and communes, and each is counted.  Returns the geometries, the feature of
    each and its number within that feature (0 for all but the second point on)."""
    multi = np.nonzero((kinds == POINT) & (shapely.get_type_id(geoms) == 4))[0]
    n = len(geoms)
    if len(multi) == 0:
        return geoms, np.arange(n), np.zeros(n, dtype=np.int64)
    counts = np.ones(n, dtype=np.int64)
    counts[multi] = shapely.get_num_geometries(geoms[multi])
    src = np.repeat(np.arange(n), counts)
    start = np.cumsum(counts) - counts
    ordinal = np.arange(len(src)) - start[src]
    out = geoms[src]
    out[np.isin(src, multi)] = shapely.get_parts(geoms[multi])
    return out, src, ordinal


def split_plan(plan: PreparedLayer, units_list, jobs: int) -> tuple[PreparedLayer, np.ndarray, np.ndarray, dict]:
    """Cut the plan's features at unit borders once, before the overlay: a plan has far fewer
    features than the master has zones, and few of them straddle a commune border.

    Returns the parts (as a layer), the source feature of each part, the point number of each
    (points_apart) and unit columns per part.
    """
    geoms, src, ordinal = points_apart(plan.geoms, plan.kinds)
    columns: dict[str, np.ndarray] = {}
    for units, prefix in units_list:
        split = split_by_units(geoms, plan.kinds[src], units, jobs)
        src, ordinal = src[split.left], ordinal[split.left]
        columns = {k: v[split.left] for k, v in columns.items()}
        geoms, unit = split.geoms, split.right
        columns[f"{prefix}_code"] = np.where(unit >= 0, units.codes[np.maximum(unit, 0)], "").astype(object)
        columns[f"{prefix}_name"] = np.where(unit >= 0, units.names[np.maximum(unit, 0)], "").astype(object)
    if geoms is plan.geoms:
        return plan, src, ordinal, columns
    parts = dataclasses.replace(
        plan,
        geoms=geoms,
        codes=plan.codes[src],
        raw_codes=plan.raw_codes[src],
        labels=plan.labels[src],
        feature_ids=plan.feature_ids[src],
        kinds=plan.kinds[src],
    )
    return parts, src, ordinal, columns


def percent_steps(progress: Progress, what: str, step: int = 10) -> Callable[[int, int], None]:
    """Report a long count in steps of `step` per cent, not at every chunk."""
    shown = [-1]

    def report(done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent // step > shown[0]:
            shown[0] = percent // step
            progress(f"{what}: {percent}% ({vn(done)} / {vn(total)})")

    return report


def check_plan(
    ctx: Context,
    plan: PreparedLayer,
    plan_id: str,
    min_area: float,
    jobs: int,
    progress: Progress = _noop,
    against: str = MASTER,
    exact_unreviewed: bool = False,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Conflict rows of one plan and its part of the summary. `against`: what ctx.master is, the
    master plan or a parent plan (its id; ctx from parent_context)."""
    units_list = [
        (u, prefix) for u, prefix in ((ctx.admin, "admin"), (ctx.admin_previous, "admin_prev")) if u is not None
    ]
    parts, src, ordinal, unit_columns = split_plan(plan, units_list, jobs)
    full_size = measure(plan.geoms, plan.kinds)
    result = overlay(
        parts,
        ctx.master,
        ctx.master_tree,
        ctx.master_code_index,
        ctx.rules,
        jobs,
        on_progress=percent_steps(progress, f"{plan_id}: cặp vùng / zone pairs") if progress is not _noop else None,
        exact_unreviewed=exact_unreviewed,
        feature_of=src,
        feature_size=full_size,
    )
    part_idx = result.pieces.left
    plan_idx, master_idx, rule_idx = src[part_idx], result.pieces.right, result.rule_index
    geoms = result.pieces.geoms
    carried = {k: v[part_idx] for k, v in unit_columns.items()}
    warnings: list[str] = []

    kinds = plan.kinds[plan_idx]
    sizes = measure(geoms, kinds)
    full = full_size[plan_idx]
    sliver = (kinds == POLYGON) & (sizes < min_area)
    slivers = {"count": int(sliver.sum()), "area_m2": float(sizes[sliver].sum())}
    keep = ~sliver
    rules = ctx.rules.rules
    n = int(keep.sum())
    rows = {
        "plan_id": np.full(n, plan_id, dtype=object),
        "against": np.full(n, against, dtype=object),
        "plan_feature": plan.feature_ids[plan_idx][keep],
        "master_feature": ctx.master.feature_ids[master_idx][keep],
        "plan_code": code_labels(plan)[plan_idx][keep],
        "master_code": code_labels(ctx.master)[master_idx][keep],
        "plan_label": plan.labels[plan_idx][keep],
        "master_label": ctx.master.labels[master_idx][keep],
        **{
            name: np.array([getattr(r, name) for r in rules], dtype=object)[rule_idx[keep]]
            for name in ("rule_id", "verdict", "severity", "reference")
        },
        "kind": np.array(KIND_NAMES, dtype=object)[kinds[keep]],
        "area_m2": np.where(kinds == POLYGON, sizes, 0.0)[keep],
        "length_m": np.where(kinds == LINE, sizes, 0.0)[keep],
        "share": np.where(kinds == POINT, 1.0, sizes / np.where(full > 0, full, 1.0))[keep],
        "review": np.full(n, "open", dtype=object),
        "review_decision": np.full(n, "", dtype=object),
    }
    extra = [c for c in ADMIN_COLUMNS + ADMIN_PREV_COLUMNS if c in carried]
    for column in extra:
        rows[column] = carried[column][keep]
    who = plan_id if against == MASTER else f"{plan_id} / {against}"
    for units, prefix in units_list:
        outside = int((rows[f"{prefix}_code"] == "").sum())
        if outside:
            warnings.append(
                f"{who}: {outside} conflict piece(s) lie outside every unit of {units.info['path']} (kept with an"
                f" empty code) / {outside} mảnh xung đột nằm ngoài mọi đơn vị hành chính"
            )
    # Rows against a parent hash with its id, so they never share an id with the master's rows.
    rows["conflict_id"] = conflict_ids(
        plan_id if against == MASTER else f"{plan_id}\0{against}",
        plan_idx[keep],
        master_idx[keep],
        rows["rule_id"],
        rows.get("admin_code"),
        rows.get("admin_prev_code"),
        ordinal[part_idx][keep],
    )
    # Text columns stay object arrays of the strings already held (no per-cell conversion).
    frame = gpd.GeoDataFrame(
        {
            c: pd.Series(rows[c], dtype=object if rows[c].dtype == object else None)
            for c in CONFLICT_COLUMNS + extra + REVIEW_COLUMNS
        },
        geometry=gpd.GeoSeries(geoms[keep], crs=ctx.analysis_crs),
    )
    part = {
        "plan_id": plan_id,
        "input": plan.info,
        "unreviewed": result.unreviewed,
        "slivers": slivers,
        "warnings": warnings,
    }
    touched = np.zeros(len(plan), dtype=bool)
    touched[src[result.touched]] = True
    part["touched"] = touched
    return frame, part


def parent_context(ctx: Context, spec: PlanInput, opts: CheckOptions) -> Context:
    """The context that checks plans against a parent plan (CONTRACT §7: the parent's zones as a
    second master, same rules): the parent read and normalised as any plan is, its zones indexed."""
    layer, parent, _ = read_plan(ctx, spec, opts)
    keep = parent.kinds == POLYGON
    if not keep.any():
        raise InputError(
            f"{layer.path}: the parent plan {spec.plan_id} has no zone (polygon) to check against"
            " / quy hoạch cấp trên không có vùng nào"
        )
    if not keep.all():
        parent = dataclasses.replace(
            parent,
            **{
                name: getattr(parent, name)[keep]
                for name in ("geoms", "codes", "raw_codes", "labels", "feature_ids", "kinds")
            },
        )
    return dataclasses.replace(
        ctx,
        master=parent,
        master_tree=shapely.STRtree(parent.geoms),
        master_code_index=ctx.rules.code_indices(parent.codes),
        master_quality={"checked": False},
        extent=None,
    )


def read_plan(ctx: Context, spec: PlanInput, opts: CheckOptions, progress: Progress = _noop):
    """A plan read and normalised for checking: (the layer as read, its prepared features, its id)."""
    progress(f"đọc quy hoạch / reading plan {spec.path}")
    layer = read_layer(
        spec.path,
        engine=opts.engine,
        encoding=spec.encoding,
        assume_crs=spec.assume_crs or opts.assume_crs,
        select=field_selector(
            spec.path,
            "plan",
            spec.code_field,
            spec.label_field,
            spec.id_field,
            ctx.profile.code_fields,
            ctx.profile.label_fields,
        ),
    )
    plan_id = spec.plan_id or layer.name
    try:
        plan = prepare_layer(
            layer,
            ctx.taxonomy,
            ctx.analysis_crs,
            code_field=spec.code_field,
            label_field=spec.label_field,
            id_field=spec.id_field,
            code_candidates=ctx.profile.code_fields,
            label_candidates=ctx.profile.label_fields,
            role="plan",
            name=plan_id,
            jobs=opts.jobs,
        )
    except CRSError as exc:  # coordinates the declared CRS cannot take (metres read as degrees...)
        vi_hint, en_hint = _crs_hint(ctx, layer)
        if exc.vi is None:
            raise CRSError(f"{layer.path}: {exc}{en_hint}") from None
        raise CRSError.say(f"{layer.path}: {exc.vi}{vi_hint}", f"{exc.en}{en_hint}") from None
    if len(plan) == 0:  # a wrong layer or a broken export must not pass as "no conflict"
        read = plan.info["features_read"]
        raise InputError.say(
            f"{layer.path}: quy hoạch không có đối tượng nào có hình học ({vn(read)} đối tượng đã đọc"
            f"{', đều rỗng, thiếu hoặc là vòng không có diện tích' if read else ''}); không có gì để kiểm tra",
            f"the plan has no feature with a geometry ({en(read)} read"
            f"{', all empty, missing or rings with no area' if read else ''}); nothing to check",
        )
    return layer, plan, plan_id


def check_one(
    ctx: Context,
    spec: PlanInput,
    opts: CheckOptions,
    progress: Progress = _noop,
    min_area: float | None = None,
    parents: list[tuple[str, Context]] = (),
) -> tuple[gpd.GeoDataFrame, dict, PreparedLayer]:
    """Read, normalise and check one plan against a prepared context (batch runs call this), and
    against each parent plan given as (its id, parent_context): their rows say `against`."""
    layer, plan, plan_id = read_plan(ctx, spec, opts, progress)
    if len(plan) and len(ctx.master_tree.query(shapely.box(*shapely.total_bounds(plan.geoms)))) == 0:
        vi_hint, en_hint = _crs_hint(ctx, layer)
        raise InputError.say(
            f"{layer.path}: quy hoạch nằm hoàn toàn ngoài phạm vi quy hoạch tỉnh nên không kiểm tra được; hệ tọa độ"
            f" có đúng không? Lớp được đọc theo {crs_mod.crs_label(layer.crs)} ({layer.crs_source}){vi_hint}",
            f"the plan lies entirely outside the master plan, so nothing can be checked; is its"
            f" CRS right? It was read as {crs_mod.crs_label(layer.crs)} ({layer.crs_source}){en_hint}",
        )
    progress(f"chồng xếp / overlaying {plan_id} ({vn(len(plan))} đối tượng / {en(len(plan))} features)")
    with ThreadPoolExecutor(max_workers=1) as beside:
        # The plan's own overlap scan needs no GIL: with threads to spare it runs during the
        # overlay and the conflict table (1.6 s of a 1M-zone check).
        suspects = beside.submit(quality.overlap_suspects, plan) if opts.jobs > 1 else None
        frame, part = check_plan(
            ctx,
            plan,
            plan_id,
            opts.min_area if min_area is None else min_area,
            opts.jobs,
            progress,
            exact_unreviewed=opts.exact_unreviewed,
        )
        flagged = suspects.result() if suspects is not None else None
    for parent_id, parent_ctx in parents:
        progress(f"chồng xếp với quy hoạch cấp trên / overlaying {plan_id} on its parent {parent_id}")
        extra, extra_part = check_plan(
            parent_ctx,
            plan,
            plan_id,
            opts.min_area if min_area is None else min_area,
            opts.jobs,
            against=parent_id,
            exact_unreviewed=opts.exact_unreviewed,
        )
        frame = gpd.GeoDataFrame(
            pd.concat([frame, extra], ignore_index=True), geometry="geometry", crs=ctx.analysis_crs
        )
        part["unreviewed"] += [dict(row, against=parent_id) for row in extra_part["unreviewed"]]
        part["slivers"] = {k: part["slivers"][k] + extra_part["slivers"][k] for k in part["slivers"]}
        part["warnings"] += extra_part["warnings"]
        part.setdefault("parents", []).append(parent_id)
    if ctx.exceptions:
        frame, stale = apply_exceptions(frame, ctx.exceptions, plan_id, ctx.on)
        frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=ctx.analysis_crs)
        part["warnings"] += [f"{plan_id}: {w}" for w in stale]
    part["quality"] = {
        "self_overlaps": quality.plan_self_overlaps(plan, opts.jobs, flagged),
        "outside_master": (
            quality.plan_outside(plan, ctx.extent)
            if ctx.extent is not None
            else quality.plan_outside_coarse(plan, ctx.master_tree, part.pop("touched"))
        ),
    }
    part.pop("touched", None)
    outside = part["quality"]["outside_master"]
    if outside["features"]:
        # Many features off the master: a wrong .prj (TM-3 coordinates declared UTM) more often than
        # a plan drawn past the province's edge.
        vi_hint, en_hint = _crs_hint(ctx, layer, partly=True) if outside["features"] >= 0.1 * len(plan) else ("", "")
        part["warnings"].append(
            say(
                f"{plan_id}: {vn(outside['features'])} đối tượng nằm một phần hoặc hoàn toàn ngoài phạm vi quy hoạch tỉnh"
                f" ({_amount(outside['area_m2'])} m², {_amount(outside['length_m'])} m, {vn(outside['points'])} điểm"
                f" nằm ngoài): phần đó không được kiểm tra{vi_hint}",
                f"{en(outside['features'])} feature(s) lie partly or wholly outside the master plan"
                f" ({_amount(outside['area_m2'], True)} m², {_amount(outside['length_m'], True)} m,"
                f" {en(outside['points'])} point(s) outside): those parts were not checked{en_hint}",
            )
        )
    if plan.info["ids_missing"] or plan.info["ids_repeated"]:
        part["warnings"].append(
            say(
                f"{plan_id}: trường mã đối tượng {plan.info['id_field']} bị trống ở {vn(plan.info['ids_missing'])} đối"
                f" tượng và trùng ở {vn(plan.info['ids_repeated'])}: các dòng đó không truy được về một đối tượng",
                f"the id field {plan.info['id_field']} is empty for {en(plan.info['ids_missing'])} feature(s) and"
                f" shared by {en(plan.info['ids_repeated'])}: their rows cannot be traced to one feature",
            )
        )
    part["warnings"] += [f"{plan_id}: {note}" for note in dropped_notes(plan.info)]
    part["warnings"] = layer.warnings + part["warnings"]
    return frame, part, plan


def _amount(value: float, english: bool = False) -> str:
    """m² or m for a message: whole units, or two decimals when that would read as 0."""
    return number(value, 0 if value >= 10 else 2, english)


def _crs_hint(ctx: Context, layer, partly: bool = False) -> tuple[str, str]:
    """('; tọa độ sẽ nằm…', '; it would lie on the master plan in EPSG:…') when another usual CRS
    places the layer there, else ('', '') (`partly`: the layer lies partly on it already; another
    CRS must place clearly more of it)."""
    return crs_hint(layer, ctx.analysis_crs, ctx.master_tree, partly)


def _placement_sample(layer) -> np.ndarray:
    """Up to 100 points of the layer, in its own coordinates: centres of spread-out features' boxes."""
    raw = np.asarray(layer.gdf.geometry.values, dtype=object)
    raw = raw[~(shapely.is_missing(raw) | shapely.is_empty(raw))]
    if len(raw) == 0:
        return raw
    sample = shapely.centroid(shapely.envelope(raw[np.unique(np.linspace(0, len(raw) - 1, 100).astype(int))]))
    return sample[np.isfinite(shapely.get_coordinates(sample)).all(axis=1)]


def _share_on(master_tree: shapely.STRtree):
    def share(points: np.ndarray) -> float:
        on, _ = master_tree.query(points, predicate="intersects")
        return len(np.unique(on)) / max(len(points), 1)

    return share


def share_on_master(layer, analysis_crs, master_tree: shapely.STRtree) -> float | None:
    """The share of the layer's sample points that lie on a master zone (None: nothing to sample).
    What the service asks of an upload: bounding boxes overlap for a plan read 55 km off (a UTM 48N
    .prj over TM-3 104°30' coordinates) inside a province-wide master plan's box."""
    sample = _placement_sample(layer)
    if len(sample) == 0:
        return None
    try:
        moved = crs_mod.transform_geometries(sample, layer.crs, analysis_crs)
    except CRSError:
        return 0.0
    return _share_on(master_tree)(moved)


def crs_hint(layer, analysis_crs, master_tree: shapely.STRtree, partly: bool = False) -> tuple[str, str]:
    """_crs_hint for a layer and a master plan's tree (the service keeps one per master plan)."""
    sample = _placement_sample(layer)
    share_on_master = _share_on(master_tree)
    if len(sample) == 0:
        return "", ""
    min_share = 0.5
    if partly:
        declared = share_on_master(crs_mod.transform_geometries(sample, layer.crs, analysis_crs))
        min_share = max(0.5, declared + 0.25)
    fits = crs_mod.likely_crs(sample, layer.crs, analysis_crs, share_on_master, min_share=min_share)
    if not fits:
        return "", ""
    if layer.crs_source == "assumed":
        vi_fix, en_fix = "hãy dùng hệ đó cho tùy chọn --assume-crs", "give that to --assume-crs"
    elif Path(layer.path).suffix.lower() in {".shp", ".zip"}:
        vi_fix, en_fix = "hãy sửa hoặc bỏ tệp .prj", "fix or remove the .prj"
    else:
        vi_fix, en_fix = (
            "hệ tọa độ của tệp sai: hãy xuất lại tệp với hệ đúng",
            "the file's CRS is wrong: export it again with the right one",
        )
    return (
        f"; tọa độ sẽ nằm trên quy hoạch tỉnh nếu chúng thuộc {' hoặc '.join(fits)} ({vi_fix})",
        f"; its coordinates would lie on the master plan if they were in {' or '.join(fits)} ({en_fix})",
    )


def _with_distinct_ids(plans: list[PlanInput]) -> list[PlanInput]:
    """Each plan's id, known before any work: the file stem (NFC), or stem::layer when two layers of
    one file are checked together; a clash left is refused up front."""

    def stem(spec: PlanInput, with_layer: bool) -> str:
        path, layer = split_selector(spec.path)
        name = file_stem(path)
        return f"{name}::{layer}" if with_layer and layer else name

    stems = [stem(p, False) for p in plans]
    out, seen = [], set()
    for spec, plain in zip(plans, stems):
        plan_id = spec.plan_id or (stem(spec, True) if stems.count(plain) > 1 else plain)
        if plan_id in seen:
            raise InputError.say(
                f"hai quy hoạch trùng mã {plan_id!r}: hãy đổi tên một tệp",
                f"two plans have the id {plan_id!r}: rename one file",
            )
        seen.add(plan_id)
        out.append(dataclasses.replace(spec, plan_id=plan_id))
    return out


def run_check(opts: CheckOptions, progress: Progress = _noop) -> CheckResult:
    """The whole check for one or more plans against one master plan."""
    if not opts.plans:
        raise InputError.say("chưa cho quy hoạch nào: dùng --plan ĐƯỜNG_DẪN", "no plan given: use --plan PATH")
    if not math.isfinite(opts.min_area) or opts.min_area < 0:
        raise InputError.say(
            f"--min-area phải là số m², từ 0 trở lên (nhận được {opts.min_area})",
            f"--min-area must be a number of m², 0 or more (got {opts.min_area})",
        )
    specs = _with_distinct_ids(opts.plans)
    ctx = build_context(opts, progress)
    screening = None
    if opts.hazards:  # read and checked before any plan: a bad hazards file costs no overlay
        from .hazards import Screening, load_hazards

        screening = Screening(load_hazards(opts.hazards, ctx.taxonomy, written=opts.hazards), ctx.analysis_crs)
    try:
        return _run_plans(opts, specs, ctx, screening, progress)
    finally:
        if screening is not None:
            screening.close()


def _run_plans(opts: CheckOptions, specs: list[PlanInput], ctx: Context, screening, progress: Progress) -> CheckResult:
    frames, parts, prepared = [], [], []
    for spec in specs:
        parent = opts.parents.get(spec.plan_id) if spec.plan_id else None
        parents = [(parent.plan_id, parent_context(ctx, parent, opts))] if parent is not None else []
        frame, part, plan = check_one(ctx, spec, opts, progress, parents=parents)
        frames.append(frame)
        parts.append(part)
        prepared.append(plan)
    conflicts = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    conflicts = gpd.GeoDataFrame(conflicts, geometry="geometry", crs=ctx.analysis_crs)
    summary = build_summary(ctx, opts, conflicts, parts, prepared)
    ids = {p["plan_id"] for p in parts}
    elsewhere = sorted({e.plan_id for e in ctx.exceptions} - ids)
    if elsewhere:  # a plan id mistyped in exceptions.csv would otherwise pass unseen
        summary["warnings"].append(
            f"{sum(e.plan_id in elsewhere for e in ctx.exceptions)} ngoại lệ của quy hoạch khác / exception(s) name"
            f" no plan of this check ({', '.join(elsewhere[:10])}); the plans checked are {', '.join(sorted(ids))}"
        )
    hazards = None
    if screening is not None:
        hazards = screen_hazards(ctx, screening, prepared, [p["plan_id"] for p in parts], opts.jobs, progress)
        summary["hazards"] = hazards.summary
        summary["warnings"] += hazards.summary["warnings"]
        summary["transformations"] = sorted(
            set(summary["transformations"]) | {layer["transformation"] for layer in hazards.layers}
        )
    return CheckResult(
        conflicts=conflicts,
        summary=summary,
        plans=prepared,
        master=ctx.master,
        taxonomy=ctx.taxonomy,
        rules=ctx.rules,
        admin=ctx.admin,
        hazards=hazards,
    )


def screen_hazards(
    ctx: Context, screening, plans: list[PreparedLayer], plan_ids: list[str], jobs: int, progress: Progress = _noop
):
    """Hazard rows of prepared plans, split by the context's units as the conflicts are."""
    units_list = [
        (u, prefix) for u, prefix in ((ctx.admin, "admin"), (ctx.admin_previous, "admin_prev")) if u is not None
    ]
    frames, warnings = [], []
    for plan, plan_id in zip(plans, plan_ids):
        progress(f"sàng lọc ngập / screening {plan_id} for hazards")
        frame, notes = screening.plan(plan, plan_id, units_list, jobs)
        frames.append(frame)
        warnings += notes
    return screening.result(frames, warnings)


def _totals(frame: pd.DataFrame) -> dict:
    return {
        "pieces": int(len(frame)),
        "area_m2": round(float(frame["area_m2"].sum()), 3),
        "length_m": round(float(frame["length_m"].sum()), 3),
        "points": int((frame["kind"] == "point").sum()),
    }


def _group(frame: pd.DataFrame, keys: list[str]) -> list[dict]:
    """_totals per group, in one groupby pass."""
    if frame.empty:
        return []
    sums = (
        frame.assign(point=frame["kind"] == "point")
        .groupby(keys, sort=True, dropna=False)
        .agg(
            pieces=("area_m2", "size"),
            area_m2=("area_m2", "sum"),
            length_m=("length_m", "sum"),
            points=("point", "sum"),
        )
    )
    out = []
    for values, row in zip(sums.index, sums.itertuples(index=False)):
        values = values if isinstance(values, tuple) else (values,)
        out.append(
            {
                **{k: ("" if pd.isna(v) else v) for k, v in zip(keys, values)},
                "pieces": int(row.pieces),
                "area_m2": round(float(row.area_m2), 3),
                "length_m": round(float(row.length_m), 3),
                "points": int(row.points),
            }
        )
    return out


_SUMMARY_COLUMNS = (
    "plan_id",
    "rule_id",
    "verdict",
    "severity",
    "kind",
    "area_m2",
    "length_m",
    *ADMIN_COLUMNS,
    *ADMIN_PREV_COLUMNS,
    *REVIEW_COLUMNS,
)


def build_summary(
    ctx: Context, opts: CheckOptions, conflicts: gpd.GeoDataFrame, parts: list[dict], plans: list[PreparedLayer]
) -> dict:
    # Only the columns summed or grouped on: copying the labels and references too cost 1 s at 900k rows.
    frame = pd.DataFrame({c: conflicts[c] for c in _SUMMARY_COLUMNS if c in conflicts})
    # Rows a decision accepted (CONTRACT §10) are counted apart: every figure below is of open rows.
    is_open = open_rows(frame)
    excepted, frame = frame[~is_open], frame[is_open]
    rules = ctx.rules
    per_rule = {row["rule_id"]: row for row in _group(frame, ["rule_id"])}
    by_rule = [
        {
            "rule_id": rule.rule_id,
            "plan_code": rule.plan_code,
            "master_code": rule.master_code,
            "verdict": rule.verdict,
            "severity": rule.severity,
            "reference": rule.reference,
            "note": rule.note,
            **{k: v for k, v in per_rule[rule.rule_id].items() if k != "rule_id"},
        }
        for rule in rules.rules
        if rule.rule_id in per_rule
    ]
    warnings = list(ctx.master.info.get("warnings", [])) + [w for part in parts for w in part["warnings"]]
    for units in (ctx.admin, ctx.admin_previous):
        if units is not None:
            warnings += units.warnings
    for part in parts:
        unknown = part["input"]["unknown_codes"]
        if unknown:
            listed = ", ".join(f"{k} ({vn(v)})" for k, v in list(unknown.items())[:10])
            warnings.append(
                say(
                    f"{part['plan_id']}: {vn(sum(unknown.values()))} đối tượng có mã không có trong bảng"
                    f" phân loại: {listed}",
                    f"{en(sum(unknown.values()))} feature(s) with codes not in the"
                    " taxonomy: " + ", ".join(f"{k} ({en(v)})" for k, v in list(unknown.items())[:10]),
                )
            )
    if ctx.master.info["unknown_codes"]:
        unknown = ctx.master.info["unknown_codes"]
        warnings.append(
            say(
                f"quy hoạch tỉnh: {vn(sum(unknown.values()))} vùng có mã không có trong bảng phân loại: "
                + ", ".join(f"{k} ({vn(v)})" for k, v in list(unknown.items())[:10]),
                f"master: {en(sum(unknown.values()))} zone(s) with codes not in the taxonomy: "
                + ", ".join(f"{k} ({en(v)})" for k, v in list(unknown.items())[:10]),
            )
        )
    conflict_only = frame[frame["verdict"] == "conflict"]
    return {
        "kgspatial_version": __version__,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "profile": ctx.profile.name,
        "analysis_crs": crs_mod.crs_label(ctx.analysis_crs),
        "transformations": sorted(
            {crs_mod.describe_transformation(layer.source_crs, ctx.analysis_crs) for layer in [ctx.master, *plans]}
        ),
        "rules": {"path": str(rules.source), "sha256": rules.sha256, "count": len(rules.rules)},
        "min_area_m2": opts.min_area,
        "inputs": {
            "master": ctx.master.info,
            "plans": [p["input"] for p in parts],
            "admin": ctx.admin.info if ctx.admin else None,
            "admin_previous": ctx.admin_previous.info if ctx.admin_previous else None,
        },
        "totals": {
            "conflict_rows": int(len(frame)) + int(len(excepted)),
            **{f"excepted_{k}": v for k, v in _totals(excepted).items()},
            **{f"conflict_{k}": v for k, v in _totals(conflict_only).items()},
            **{f"conditional_{k}": v for k, v in _totals(frame[frame["verdict"] == "conditional"]).items()},
            "slivers": {
                "count": sum(p["slivers"]["count"] for p in parts),
                "area_m2": round(sum(p["slivers"]["area_m2"] for p in parts), 3),
            },
        },
        "by_plan": [
            {
                "plan_id": p["plan_id"],
                **_totals(sub),
                "conflicts": int((sub["verdict"] == "conflict").sum()),
                "excepted": int((excepted["plan_id"] == p["plan_id"]).sum()),
                "slivers": p["slivers"],
                "quality": p["quality"],
            }
            for p in parts
            for sub in [frame[frame["plan_id"] == p["plan_id"]]]
        ],
        "by_rule": by_rule,
        "by_severity": _group(frame, ["verdict", "severity"]),
        "by_admin": _group(frame, ["admin_code", "admin_name"]) if "admin_code" in frame else [],
        "by_admin_previous": _group(frame, ["admin_prev_code", "admin_prev_name"])
        if "admin_prev_code" in frame
        else [],
        "unreviewed": [dict(row, plan_id=p["plan_id"]) for p in parts for row in p["unreviewed"]],
        "excepted": _group(excepted, ["plan_id", "rule_id", "verdict", "review_decision"]),
        "unreviewed_exact": opts.exact_unreviewed,
        "master_quality": ctx.master_quality,
        "warnings": warnings,
    }
