"""Check jobs and their results: conflicts as GeoJSON, the map and the reports."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kgspatial.errors import say
from kgspatial.rules import SEVERITIES

from .. import register as plan_register
from ..auth import Principal, any_role, uploader
from ..store import Conflict, ConflictFilter, NotFound
from ..store.features import plain, query_region, withhold
from .registry import _visible_plan, listing

router = APIRouter(tags=["checks"])

GEOJSON = "application/geo+json"
MAX_LIMIT = 10_000
MAX_OFFSET = 2**31 - 1  # beyond it no store has rows, and PostgreSQL's integers overflow
REPORT_FORMATS = ("html", "xlsx", "pdf")


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key ("min_areaa") is a 422, not ignored

    plan_id: str = Field(description="id of an uploaded plan (GET /api/v1/plans)")
    master_id: str | None = Field(None, description="default: the newest master plan")
    rules_id: str | None = Field(None, description="default: the newest rules table, else the province profile's")
    admin_id: str | None = Field(None, description="default: the newest administrative units, if any")
    admin_previous_id: str | None = Field(
        None, description="pre-2025 administrative units (default: the newest uploaded with period=previous, if any)"
    )
    min_area: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="slivers below this many m² are counted, not listed (default 1)"
    )

    @field_validator("plan_id")
    @classmethod
    def _plan_id(cls, value: str) -> str:
        if not value.strip():  # was a 404 "plan  not found", as if some plan had an empty id
            raise ValueError(
                say(
                    "plan_id không được để trống: cho mã của một quy hoạch đã tải lên",
                    "plan_id must not be empty: give the id of an uploaded plan (GET /api/v1/plans)",
                )
            )
        return value


def visible_check(request: Request, principal: Principal, check_id: str) -> dict:
    try:
        record = request.app.state.store.get_check(check_id)
    except NotFound:
        record = None
    if record is None or not principal.may_see(record):
        raise HTTPException(404, f"không tìm thấy kiểm tra / check {check_id} not found")
    return record


def _present(record: dict) -> dict:
    """The job as the contract shows it: summary only when successful, reason when failed."""
    out = {
        k: plain(record[k])
        for k in (
            "id",
            "status",
            "plan_id",
            "master_id",
            "rules_id",
            "admin_id",
            "admin_prev_id",
            "min_area",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "owner_id",
        )
    }
    if record["status"] == "running":
        out["progress"] = record.get("progress")
    if record["status"] in ("failed", "dismissed") or (record["status"] == "accepted" and record.get("reason")):
        out["reason"] = record.get("reason")
    if record["status"] == "successful":
        out["summary"] = record["summary"]
    return out


def _reference(store, kind: str, given: str | None, what: str) -> str | None:
    if given:
        store.get_layer(given, kind)  # NotFound -> 404
        return given
    newest = store.newest_layer(kind)
    return newest["id"] if newest else None


@router.post("/checks", status_code=202)
def create_check(body: CheckRequest, request: Request, principal: Principal = Depends(uploader)):
    """Queue a check of one plan against the master plan; poll GET /checks/{id}."""
    store = request.app.state.store
    plan = _visible_plan(request, principal, body.plan_id)
    master_id = _reference(store, "master", body.master_id, "master plan")
    if master_id is None:
        raise Conflict("chưa có quy hoạch tỉnh / no master plan yet: an admin must upload one (POST /api/v1/masters)")
    admin_id = _reference(store, "admin", body.admin_id, "administrative units")
    admin_prev_id = _reference(store, "admin_prev", body.admin_previous_id, "pre-2025 administrative units")
    if body.rules_id:
        store.get_rules(body.rules_id)
        rules_id = body.rules_id
    else:
        newest = store.newest_rules()
        rules_id = newest["id"] if newest else None
    inputs = plan_register.check_inputs(store, request.app.state.province, plan, master_id, rules_id)
    record = store.create_check(
        {
            "plan_id": plan["id"],
            "master_id": master_id,
            "rules_id": rules_id,
            "admin_id": admin_id,
            "admin_prev_id": admin_prev_id,
            "min_area": 1.0 if body.min_area is None else body.min_area,
            "owner_id": principal.id,
            "inputs": inputs,
        }
    )
    request.app.state.runner.wake()
    return JSONResponse(_present(record), status_code=202, headers={"Location": f"{request.url.path}/{record['id']}"})


@router.get("/checks")
def list_checks(request: Request, plan_id: str | None = None, principal: Principal = Depends(any_role)):
    owner = None if principal.sees_everything else principal.id
    return listing([_present(r) for r in request.app.state.store.list_checks(owner, plan_id)])


@router.get("/checks/{check_id}")
def get_check(check_id: str, request: Request, principal: Principal = Depends(any_role)):
    return _present(visible_check(request, principal, check_id))


@router.delete("/checks/{check_id}")
def dismiss_check(check_id: str, request: Request, principal: Principal = Depends(uploader)):
    """Dismiss a job that has not finished (owner or admin); 409 once it has finished."""
    visible_check(request, principal, check_id)
    return _present(request.app.state.store.dismiss_check(check_id))


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None or text == "":
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if (
        len(values) != 4
        or not all(math.isfinite(v) for v in values)
        or values[0] > values[2]
        or values[1] > values[3]
        or min(values[0], values[2]) < -180
        or max(values[0], values[2]) > 180
        or min(values[1], values[3]) < -90
        or max(values[1], values[3]) > 90
    ):
        raise HTTPException(422, f"bbox {text!r} không hợp lệ / invalid: give minLon,minLat,maxLon,maxLat (EPSG:4326)")
    return tuple(values)


def _listed(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def _one_of(name: str, values: list[str], allowed: tuple[str, ...]) -> list[str]:
    """A filter on a closed list: a value outside it is a mistake to say, not "0 matches"."""
    values = [v.lower() for v in values]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise HTTPException(422, f"{name} {', '.join(bad)} không hợp lệ / invalid: use {', '.join(allowed)}")
    return values


def withheld_for(request: Request, principal: Principal, record: dict, kind: str = "check"):
    """The area a non-admin may not see in a check's or layer's geometry (None for admins)."""
    from ..render import served_withheld

    if principal.is_admin:
        return None
    if record.get("kind") == "admin":
        return None
    # Layers are drawn along each other (a plan along the master's zones, a plan around another
    # plan's security land): every geometry loses the cells of every master plan's and plan's
    # masked land, or a neighbour's edge would trace it. Cells are worked out once per layer.
    store = request.app.state.store
    ids = [record["master_id"], record["plan_id"]] if kind == "check" else [record["id"]]
    ids += [m["id"] for m in store.list_layers("master")] + [p["id"] for p in store.list_layers("plan", None)]
    return served_withheld(request.app, *sorted(dict.fromkeys(ids)))


def page_links(request: Request, offset: int, limit: int, returned: int, matched: int, media: str) -> list[dict]:
    links = [{"href": str(request.url), "rel": "self", "type": media}]
    if offset + returned < matched:
        links.append(
            {
                "href": str(request.url.include_query_params(offset=offset + limit, limit=limit)),
                "rel": "next",
                "type": media,
            }
        )
    if offset > 0:
        links.append(
            {
                "href": str(request.url.include_query_params(offset=max(0, offset - limit), limit=limit)),
                "rel": "prev",
                "type": media,
            }
        )
    return links


@router.get("/checks/{check_id}/conflicts", response_class=JSONResponse, responses={200: {"content": {GEOJSON: {}}}})
def conflicts(
    check_id: str,
    request: Request,
    bbox: str | None = Query(None, description="minLon,minLat,maxLon,maxLat (EPSG:4326)"),
    severity: list[str] | None = Query(None),
    rule_id: list[str] | None = Query(None),
    admin_code: list[str] | None = Query(None),
    verdict: list[str] | None = Query(None),
    limit: int = Query(1000, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    principal: Principal = Depends(any_role),
):
    """Conflict rows (CONTRACT §2) as a GeoJSON FeatureCollection in EPSG:4326."""
    record = visible_check(request, principal, check_id)
    withheld = withheld_for(request, principal, record)
    flt = ConflictFilter(
        bbox=query_region(parse_bbox(bbox), withheld),
        severity=_one_of("severity", _listed(severity), SEVERITIES),
        rule_id=_listed(rule_id),
        admin_code=_listed(admin_code),
        verdict=_one_of("verdict", _listed(verdict), ("conflict", "conditional")),
    )
    page = request.app.state.store.conflicts(check_id, flt, limit=limit, offset=offset, unmasked=principal.is_admin)
    body = {
        "type": "FeatureCollection",
        "features": withhold(page.features, withheld),
        "numberMatched": page.matched,
        "numberReturned": len(page.features),
        "links": page_links(request, offset, limit, len(page.features), page.matched, GEOJSON),
    }
    return JSONResponse(body, media_type=GEOJSON)


@router.get("/checks/{check_id}/map", response_class=FileResponse)
async def check_map(check_id: str, request: Request, principal: Principal = Depends(any_role)):
    """The interactive map (HTML); defence and security land is masked for non-admins."""
    from ..render import render

    visible_check(request, principal, check_id)
    path = await run_in_threadpool(render, request.app, check_id, "map", principal.is_admin)
    return FileResponse(path, media_type="text/html; charset=utf-8")


@router.get("/checks/{check_id}/report", response_class=FileResponse)
async def check_report(
    check_id: str,
    request: Request,
    format: str = Query("html", description="html, xlsx or pdf"),
    english: bool = False,
    principal: Principal = Depends(any_role),
):
    """The check's report; defence and security land is masked for non-admins."""
    from ..render import MEDIA, render

    if format not in REPORT_FORMATS:
        raise HTTPException(
            422, f"định dạng {format!r} không hỗ trợ / unsupported report format: use html, xlsx or pdf"
        )
    visible_check(request, principal, check_id)
    path = await run_in_threadpool(render, request.app, check_id, format, principal.is_admin, english)
    return FileResponse(
        path,
        media_type=MEDIA[format],
        filename=f"kgspatial-{check_id}.{format}",
        content_disposition_type="inline" if format != "xlsx" else "attachment",
    )


@router.get("/checks/{check_id}/download", response_class=FileResponse)
async def check_download(
    check_id: str,
    request: Request,
    format: str = Query("gpkg", description="gpkg (analysis CRS) or geojson (EPSG:4326)"),
    principal: Principal = Depends(any_role),
):
    """Every conflict row as one file (the pages' downloads); masked for non-admins as the maps are."""
    from ..render import DATA_FORMATS, MEDIA, render

    if format not in DATA_FORMATS:
        raise HTTPException(422, f"định dạng {format!r} không hỗ trợ / unsupported format: use gpkg or geojson")
    record = visible_check(request, principal, check_id)
    if record["status"] != "successful":
        raise HTTPException(409, f"kiểm tra chưa xong / check {check_id} is {record['status']}, not successful")
    path = await run_in_threadpool(render, request.app, check_id, format, principal.is_admin)
    return FileResponse(path, media_type=MEDIA[format], filename=f"kgspatial-{check_id}-conflicts.{format}")
