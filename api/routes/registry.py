"""Plans, master plans, administrative units and rules tables: uploads and the registry."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from kgspatial import crs as crs_mod
from kgspatial.admin import prepare_admin
from kgspatial.errors import CRSError, InputError, KgSpatialError, say
from kgspatial.io import read_layer
from kgspatial.numfmt import en, vn
from kgspatial.prepare import POLYGON, dropped_notes, find_field, prepare_layer
from kgspatial.registry import PLAN_TYPE_RE, plan_type_error
from kgspatial.rules import load_rules

from .. import register as plan_register
from ..auth import Principal, admin_only, any_role, uploader
from ..store import NotFound
from ..uploads import Upload, check_layer_size, received, require_layer_file
from ..wording import for_api

router = APIRouter(tags=["registry"])

_LAYER_FORM = {
    "type": "object",
    "required": ["file", "name"],
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "zipped shapefile, MapInfo table or File Geodatabase, GeoPackage, GeoJSON, GeoParquet or FlatGeobuf",
        },
        "name": {"type": "string"},
        "code_field": {"type": "string", "description": "land-use code column (default: detected)"},
        "label_field": {"type": "string"},
        "id_field": {"type": "string", "description": "feature id column (default: FID)"},
        "encoding": {"type": "string", "description": "text encoding (default: .cpg or detected, TCVN3/VNI too)"},
        "assume_crs": {"type": "string", "description": "CRS of a layer without one, e.g. EPSG:9207"},
        "layer": {"type": "string", "description": "layer name in a multi-layer file"},
    },
}


def _form(extra: dict | None = None, drop: tuple[str, ...] = ()) -> dict:
    schema = {**_LAYER_FORM, "properties": {k: v for k, v in _LAYER_FORM["properties"].items() if k not in drop}}
    if extra:
        schema["properties"] = {**schema["properties"], **extra}
        schema["required"] = schema["required"] + [k for k in extra if k == "plan_type"]
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def listing(items: list[dict]) -> dict:
    return {"items": items, "total": len(items)}


def _sensitive_flags(gdf, column: str | None, taxonomy) -> np.ndarray:
    """Per feature: is its land-use code defence or security land (masked for non-admins)?"""
    if column is None:
        return np.zeros(len(gdf), dtype=bool)
    sensitive = taxonomy.sensitive_codes
    values = gdf[column].astype(object).where(gdf[column].notna(), "")
    flags = {v: taxonomy.canonical(v if isinstance(v, str) else str(v)) in sensitive for v in set(values)}
    return values.map(flags).to_numpy(dtype=bool)


def _ingest(
    request: Request,
    kind: str,
    path: Path,
    fields: dict,
    principal: Principal,
    filename: str,
    named: dict | None = None,
) -> dict:
    """Read and check the whole layer (as `kgspatial check` would) before the store sees it.
    `named`: a plan's decision, approval, authority and register keys, validated already."""
    province = request.app.state.province
    spec = str(path) + (f"::{fields['layer']}" if fields.get("layer") else "")
    layer = read_layer(
        spec, encoding=fields.get("encoding") or None, assume_crs=fields.get("assume_crs") or None, untrusted=True
    )
    gdf = layer.gdf
    check_layer_size(gdf, filename, request.app.state.settings)
    if len(gdf) == 0:
        raise InputError.say(f"{filename}: lớp không có đối tượng nào", "the layer has no features")
    meta = {
        "kind": "admin_prev" if kind == "admin" and fields.get("period") == "previous" else kind,
        "name": fields.get("name") or Path(filename).stem,
        "plan_type": fields.get("plan_type"),
        "owner_id": principal.id,
        "filename": filename,
        "crs": crs_mod.crs_label(layer.crs),
        "crs_wkt": layer.crs.to_wkt(),
        "crs_source": layer.crs_source,
        "encoding": layer.encoding,
        "feature_count": int(len(gdf)),
        "warnings": list(layer.warnings),
        **(named or {}),
    }
    if kind == "admin":
        units = prepare_admin(
            layer, province.analysis_crs, fields.get("code_field") or None, fields.get("name_field") or None
        )
        from kgspatial.admin import CODE_CANDIDATES, NAME_CANDIDATES

        code_col = find_field(gdf.columns, fields.get("code_field") or None, CODE_CANDIDATES, "unit code", filename)
        name_col = find_field(gdf.columns, fields.get("name_field") or None, NAME_CANDIDATES, "unit name", filename)
        meta.update(code_field=code_col, name_field=name_col, info={**units.info, "path": filename})
        meta["warnings"] += list(units.warnings)
        sensitive = np.zeros(len(gdf), dtype=bool)
    else:
        profile = province.profile
        try:
            prepared = prepare_layer(
                layer,
                province.taxonomy,
                province.analysis_crs,
                code_field=fields.get("code_field") or None,
                label_field=fields.get("label_field") or None,
                id_field=fields.get("id_field") or None,
                code_candidates=profile.code_fields,
                label_candidates=profile.label_fields,
                role=kind,
            )
        except CRSError as exc:  # coordinates the CRS cannot take (metres under degrees): name the file
            raise (CRSError.say(f"{spec}: {exc.vi}", exc.en) if exc.vi else CRSError(f"{spec}: {exc}")) from None
        if len(prepared.geoms) == 0:
            raise InputError.say(
                f"{filename}: không đối tượng nào có hình học (đã đọc {vn(len(gdf))})",
                f"no feature has a geometry ({en(len(gdf))} read)",
            )
        if kind == "master" and not (prepared.kinds == POLYGON).any():
            raise InputError.say(
                f"{filename}: quy hoạch tỉnh phải là các vùng (polygon), lớp này không có vùng nào",
                "a master plan is zones, and this layer holds no polygon",
            )
        info = dict(prepared.info)
        info.pop("path", None)  # a scratch path, gone after the upload
        meta.update(
            code_field=info["code_field"], label_field=info["label_field"], id_field=info["id_field"], info=info
        )
        if info["unknown_codes"]:
            unknown = info["unknown_codes"]
            meta["warnings"].append(
                say(
                    f"{vn(sum(unknown.values()))} đối tượng có mã không có trong bảng phân loại: "
                    + ", ".join(f"{k} ({vn(v)})" for k, v in list(unknown.items())[:10]),
                    f"{en(sum(unknown.values()))} feature(s) with codes not in the taxonomy: "
                    + ", ".join(f"{k} ({en(v)})" for k, v in list(unknown.items())[:10]),
                )
            )
        sensitive = _sensitive_flags(gdf, info["code_field"], province.taxonomy)
        meta["warnings"] += dropped_notes(info)
        if info["geometries_repaired"]:
            meta["warnings"].append(
                say(
                    f"đã sửa {vn(info['geometries_repaired'])} hình học không hợp lệ (make_valid)",
                    f"{en(info['geometries_repaired'])} invalid geometry(ies) repaired (make_valid)",
                )
            )
    if fields.get("assume_crs") and layer.crs_source != "assumed":
        meta["warnings"].append(
            say(
                f"bỏ qua assume_crs {fields['assume_crs']} vì tệp đã khai báo {crs_mod.crs_label(layer.crs)}",
                f"assume_crs {fields['assume_crs']} ignored: the file declares {crs_mod.crs_label(layer.crs)}",
            )
        )
    try:
        wgs84 = crs_mod.to_crs(gdf, "EPSG:4326")
    except CRSError as exc:  # served in WGS 84: coordinates it cannot take (1e300 m) cannot be served
        raise CRSError.say(
            f"{filename}: có tọa độ không chuyển được sang WGS 84 ({exc.vi or exc}): chúng có thật"
            f" thuộc {crs_mod.crs_label(layer.crs)} không?",
            f"some coordinates cannot be shown in WGS 84 ({exc.en or exc}): are they in"
            f" {crs_mod.crs_label(layer.crs)}?",
        ) from None
    meta["bbox"] = [round(float(v), 7) for v in wgs84.total_bounds]
    master = request.app.state.store.newest_layer("master") if kind == "plan" else None
    if master:
        meta["warnings"] += _placement(request, layer, master, meta)
    paths = {str(path.resolve()): filename, str(path): filename}
    meta["warnings"] = [for_api(w, paths) for w in meta["warnings"]]  # they name the scratch copy
    # Masking needs the cells of a layer's sensitive land: a layer with none is known without reading it.
    meta["info"] = {
        **(meta.get("info") or {}),
        "sensitive_features": int(np.count_nonzero(sensitive)),
        "sha256": plan_register.file_sha256(path),
    }  # the register's "outdated" compares it
    return request.app.state.store.add_layer(meta, gdf, sensitive)


def _placement(request: Request, layer, master: dict, meta: dict) -> list[str]:
    """A warning when the plan does not lie on the master plan's zones, with the CRS under which it
    would: a wrong .prj (UTM 48N over TM-3 104°30' coordinates) puts a plan 55 km off, still inside
    a province-wide master plan's bounding box. Said at upload, not at the check."""
    from kgspatial.check import crs_hint, share_on_master

    from ..render import master_tree

    province = request.app.state.province
    tree = master_tree(request.app, master["id"])
    share = (
        0.0
        if master.get("bbox") and _disjoint(meta["bbox"], master["bbox"])
        else share_on_master(layer, province.analysis_crs, tree)
    )
    if share is None or share >= 0.5:
        return []
    vi_hint, en_hint = crs_hint(layer, province.analysis_crs, tree, partly=share > 0)
    where = "nằm ngoài" if share == 0 else f"chỉ {share:.0%} nằm trên"
    return [
        say(
            f"quy hoạch {where} các vùng của quy hoạch tỉnh {master['name']} (đọc theo {meta['crs']},"
            f" {meta['crs_source']}): hệ tọa độ có đúng không?{vi_hint}",
            f"the plan {'lies outside' if share == 0 else f'lies only {share:.0%} on'} the zones of the master plan"
            f" {master['name']} (read as {meta['crs']}, {meta['crs_source']}): is its CRS right?{en_hint}",
        )
    ]


def _disjoint(a: list[float], b: list[float]) -> bool:
    return a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


async def _upload_layer(request: Request, principal: Principal, kind: str, accept=None) -> JSONResponse:
    """`accept(fields)`, when given, sees the form's fields before the file is read (the web
    pages check their CSRF token there)."""
    settings = request.app.state.settings
    scratch = settings.data_dir / "tmp"
    async with received(request, settings, scratch) as upload:
        if accept is not None:
            accept(upload.fields)
        path = require_layer_file(upload, settings)
        _require_name(upload)
        named = None
        if kind == "plan":
            plan_type = upload.fields.get("plan_type", "")
            if not PLAN_TYPE_RE.match(plan_type):
                raise HTTPException(422, f"plan_type: {plan_type_error(plan_type)}")
            named = await run_in_threadpool(_named, request, upload, principal)
        try:
            record = await run_in_threadpool(
                _ingest, request, kind, path, upload.fields, principal, upload.filename, named
            )
        except KgSpatialError as exc:
            paths = {str(path.resolve()): upload.filename, str(path): upload.filename}
            exc.args = (for_api(str(exc), paths),)
            raise
    return JSONResponse(record, status_code=201, headers={"Location": f"{request.url.path}/{record['id']}"})


def _named(request: Request, upload: Upload, principal: Principal) -> dict:
    """The upload's decision, approval, authority and register keys (CONTRACT §5, §7), validated
    as a registry's plan is, before the layer is read: 422 listing every problem."""
    values, problems = plan_register.form_values(upload.fields)
    fields = upload.fields
    raw = {
        "id": "new",
        "name": fields.get("name"),
        "type": fields.get("plan_type"),
        "path": upload.filename,
        "code_field": fields.get("code_field") or None,
        "label_field": fields.get("label_field") or None,
        **values,
    }
    entry = plan_register.validated(raw, plan_register.linkable(request.app.state.store, principal), problems)
    return plan_register.stored_values(entry)


def _require_name(upload: Upload) -> None:
    if not upload.fields.get("name"):
        raise HTTPException(422, say("thiếu tên: trường 'name' là bắt buộc", "the form field 'name' is required"))


def _visible_plan(request: Request, principal: Principal, plan_id: str) -> dict:
    try:
        record = request.app.state.store.get_layer(plan_id, "plan")
    except NotFound:
        record = None
    if record is None or not principal.may_see(record):
        raise HTTPException(404, f"không tìm thấy quy hoạch / plan {plan_id} not found")
    return record


# -- plans -------------------------------------------------------------------------------------
_REGISTER_FORM = {  # CONTRACT §5 and §7: what names the plan and what it is in law
    "decision": {"type": "string", "description": "approving decision, e.g. 1234/QĐ-UBND (none: a draft)"},
    "approved": {"type": "string", "description": "approval date, YYYY-MM-DD (or DD/MM/YYYY)"},
    "authority": {"type": "string", "description": "approving authority, e.g. UBND tỉnh Kiên Giang"},
    "status": {
        "type": "string",
        "enum": ["draft", "approved", "abolished", "superseded"],
        "description": "declared status (default: approved with a decision, else draft)",
    },
    "horizon": {"type": "integer", "description": "last year the plan covers"},
    "integrated": {"type": "boolean", "description": "folded into the provincial plan (Law 21/2017 Art. 59.1.c)"},
    "fixes_quantities": {"type": "boolean", "description": "fixes quantities of goods or services (Art. 59.1.d)"},
    "parent": {"type": "string", "description": "id of the higher plan it must agree with"},
    "superseded_by": {"type": "string", "description": "id of the plan replacing it"},
    "review_due": {"type": "string", "description": "review deadline, YYYY-MM-DD (default: the profile's)"},
    "adjustments": {"type": "string", "description": 'JSON list of {"decision", "approved", "note"}'},
}


@router.post(
    "/plans",
    status_code=201,
    openapi_extra=_form(
        {
            "plan_type": {
                "type": "string",
                "description": "urban_general | urban_zoning | rural | sectoral_<sector> | technical_<kind>",
            },
            **_REGISTER_FORM,
        }
    ),
)
async def upload_plan(request: Request, principal: Principal = Depends(uploader)):
    """Upload a plan's zoning layer (planner, admin)."""
    return await _upload_layer(request, principal, "plan")


@router.get("/plans")
def list_plans(request: Request, principal: Principal = Depends(any_role)):
    owner = None if principal.sees_everything else principal.id
    return listing(request.app.state.store.list_layers("plan", owner))


@router.get("/plans/{plan_id}")
def get_plan(plan_id: str, request: Request, principal: Principal = Depends(any_role)):
    return _visible_plan(request, principal, plan_id)


BOOLEAN_KEYS = ("integrated", "fixes_quantities")


@router.patch(
    "/plans/{plan_id}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            key: {"description": "null: back to its default"} for key in plan_register.EDITABLE
                        },
                    }
                }
            },
        }
    },
)
def edit_plan(plan_id: str, request: Request, body: dict = Body(...), principal: Principal = Depends(uploader)):
    """Change a plan's name, type, decision, approval, authority or register keys (CONTRACT §7)
    (owner or admin); validated as a registry's plan is: 422 listing every problem."""
    from ..render import drop_renders

    record = _visible_plan(request, principal, plan_id)
    store = request.app.state.store
    body = plan_register.nfc(body)
    problems = [
        f"{key}: không sửa được / not editable here (editable: {', '.join(plan_register.EDITABLE)})"
        for key in body
        if key not in plan_register.EDITABLE
    ]
    if "name" in body and not (isinstance(body["name"], str) and body["name"].strip()):
        problems.append("name: thiếu tên / a plan needs a name")
        body = {k: v for k, v in body.items() if k != "name"}
    # JSON has booleans: "yes", 1 or "false" for a flag is a mistake to report, not to guess at
    # (a registry's YAML reading "yes" as true is YAML's rule, not JSON's).
    flags = [k for k in BOOLEAN_KEYS if k in body and body[k] is not None and not isinstance(body[k], bool)]
    problems += [f"{k}: {body[k]!r} không phải true hay false / is not a JSON boolean (true or false)" for k in flags]
    body = {k: v for k, v in body.items() if k not in flags}
    raw = plan_register.entry_raw(record)
    for key, value in body.items():
        if key in plan_register.EDITABLE:
            target = "type" if key == "plan_type" else key
            if value is None:
                raw.pop(target, None)
            else:
                raw[target] = value
    entry = plan_register.validated(raw, plan_register.linkable(store, principal), problems)
    updated = store.update_plan(
        plan_id, {"name": entry.name, "plan_type": entry.type, **plan_register.stored_values(entry)}
    )
    for check in store.list_checks(plan_id=plan_id):  # reports name the plan: draw them again
        drop_renders(request.app, check["id"])
    return updated


@router.delete("/plans/{plan_id}", status_code=204)
def delete_plan(plan_id: str, request: Request, principal: Principal = Depends(uploader)):
    """Delete a plan and its checks (owner or admin); 409 while one of its checks is queued or running."""
    from ..render import drop_renders

    _visible_plan(request, principal, plan_id)
    store = request.app.state.store
    check_ids = [c["id"] for c in store.list_checks(plan_id=plan_id)]
    store.delete_plan(plan_id)
    for check_id in check_ids:
        drop_renders(request.app, check_id)
    return Response(status_code=204)


# -- master plans and administrative units ---------------------------------------------------------
@router.post("/masters", status_code=201, openapi_extra=_form())
async def upload_master(request: Request, principal: Principal = Depends(admin_only)):
    """Upload a master-plan land-use layer (admin); the newest is the default of new checks."""
    return await _upload_layer(request, principal, "master")


@router.get("/masters")
def list_masters(request: Request, principal: Principal = Depends(any_role)):
    return listing(request.app.state.store.list_layers("master"))


@router.get("/masters/{master_id}")
def get_master(master_id: str, request: Request, principal: Principal = Depends(any_role)):
    return request.app.state.store.get_layer(master_id, "master")


@router.post(
    "/admin-units",
    status_code=201,
    openapi_extra=_form(
        {
            "code_field": {
                "type": "string",
                "description": "commune (unit) code column, e.g. ma_xa (default: detected)",
            },
            "name_field": {"type": "string", "description": "unit name column"},
            "period": {
                "type": "string",
                "enum": ["current", "previous"],
                "description": "current (default): the units since the 2025 merger; previous: the units before it",
            },
        },
        drop=("label_field", "id_field"),
    ),
)
async def upload_admin_units(request: Request, principal: Principal = Depends(admin_only)):
    """Upload administrative units (communes) (admin); the newest of each period is the default of new checks."""
    return await _upload_layer(request, principal, "admin", _period)


def _period(fields: dict) -> None:
    if fields.get("period", "") not in ("", "current", "previous"):
        raise HTTPException(
            422,
            f"period {fields['period']!r} không hợp lệ / invalid: use current (đơn vị hành chính"
            " hiện hành) or previous (trước sáp nhập 2025)",
        )


@router.get("/admin-units")
def list_admin_units(request: Request, principal: Principal = Depends(any_role)):
    """Current units, then pre-2025 ones (kind admin_prev)."""
    store = request.app.state.store
    return listing(store.list_layers("admin") + store.list_layers("admin_prev"))


@router.get("/admin-units/{admin_id}")
def get_admin_units(admin_id: str, request: Request, principal: Principal = Depends(any_role)):
    record = request.app.state.store.get_layer(admin_id)
    if record["kind"] not in ("admin", "admin_prev"):
        raise NotFound(admin_id)
    return record


# -- rules -------------------------------------------------------------------------------------
def _rules_record(record: dict) -> dict:
    content = record.pop("content", None)
    if content is not None:
        record["csv"] = content.decode("utf-8-sig")
    return record


@router.post(
    "/rules",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": "rules table CSV (CONTRACT §3)",
                            },
                            "name": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def upload_rules(request: Request, principal: Principal = Depends(admin_only)):
    """Upload a rules table (admin); a malformed table is refused whole (422, every problem listed)."""
    return await _upload_rules(request, principal)


async def _upload_rules(request: Request, principal: Principal, accept=None) -> JSONResponse:
    settings = request.app.state.settings
    async with received(request, settings, settings.data_dir / "tmp") as upload:
        if accept is not None:
            accept(upload.fields)
        if upload.path is None:
            raise HTTPException(400, "thiếu tệp / no file: send the CSV in the multipart field 'file'")
        content = upload.path.read_bytes()
        try:
            content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise HTTPException(400, f"{upload.filename}: the rules table must be UTF-8 CSV") from None
        with tempfile.TemporaryDirectory(dir=upload.path.parent) as tmp:
            csv_path = Path(tmp) / "rules.csv"
            csv_path.write_bytes(content)
            table = await run_in_threadpool(load_rules, csv_path, request.app.state.province.taxonomy, upload.filename)
        record = request.app.state.store.add_rules(
            {
                "name": upload.fields.get("name") or Path(upload.filename).stem,
                "filename": upload.filename,
                "rule_count": len(table.rules),
                "owner_id": principal.id,
            },
            content,
        )
    return JSONResponse(record, status_code=201, headers={"Location": f"{request.url.path}/{record['id']}"})


@router.get("/rules")
def list_rules(request: Request, principal: Principal = Depends(any_role)):
    return listing(request.app.state.store.list_rules())


@router.get("/rules/{rules_id}")
def get_rules(rules_id: str, request: Request, principal: Principal = Depends(any_role)):
    return _rules_record(request.app.state.store.get_rules(rules_id, with_content=True))
