"""OGC API - Features (Part 1: Core) over master plans, plans, administrative units and check
results, so QGIS and other clients add them by URL.  Masking applies as everywhere else.

Collections: `master-<id>`, `admin-units-<id>`, `plan-<id>`, and per successful check one
collection per kind of piece, `conflicts-<check id>-polygons|lines|points`, so each holds one
geometry type (QGIS and GDAL fix a layer's type from its first features and drop the others);
`conflicts-<check id>` (every kind) still answers for links made before. A planner sees only
their own plans and checks. Titles name the plan, not its hex id.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from ..auth import Principal, any_role
from ..store import ConflictFilter, NotFound
from ..store.features import query_region, withhold
from .checks import GEOJSON, MAX_LIMIT, MAX_OFFSET, page_links, parse_bbox, withheld_for

router = APIRouter(tags=["OGC API - Features"])

JSON = "application/json"
# FastAPI writes OpenAPI 3.1 (its version in /openapi.json): the link says so (GDAL and QGIS read
# the document as JSON whatever the version parameter says).
OPENAPI = "application/vnd.oai.openapi+json;version=3.1"
# Pages clients use well: GDAL's OAPIF driver and QGIS page with the advertised default (with 10,
# GDAL fetched 994 zones in 99 requests, 6.5 s; at 1000, one request).
DEFAULT_LIMIT = 1000
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
KINDS = {"master": "master", "admin-units": "admin", "plan": "plan"}
# Collection suffix -> conflict row kind, the geometry it holds and its name in titles.
PIECES = {
    "polygons": ("polygon", "vùng / polygons"),
    "lines": ("line", "tuyến / lines"),
    "points": ("point", "điểm / points"),
}
TITLES = {
    "master": "Quy hoạch tỉnh / master plan",
    "admin": "Đơn vị hành chính / administrative units",
    "plan": "Quy hoạch / plan",
}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("", include_in_schema=False)
@router.get("/")
def landing(request: Request, principal: Principal = Depends(any_role)):
    base = _base(request)
    return {
        "title": "kgspatial — OGC API - Features",
        "description": "Quy hoạch tỉnh, quy hoạch và kết quả kiểm tra / master plans, plans and check results",
        "links": [
            {"href": f"{base}/ogc/", "rel": "self", "type": JSON, "title": "this document"},
            {"href": f"{base}/openapi.json", "rel": "service-desc", "type": OPENAPI, "title": "OpenAPI definition"},
            {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html", "title": "API documentation"},
            {"href": f"{base}/ogc/conformance", "rel": "conformance", "type": JSON, "title": "conformance classes"},
            {"href": f"{base}/ogc/collections", "rel": "data", "type": JSON, "title": "collections"},
        ],
    }


@router.get("/conformance")
def conformance(principal: Principal = Depends(any_role)):
    return {"conformsTo": CONFORMANCE}


def _collection(request: Request, cid: str, title: str, bbox, description: str = "") -> dict:
    base = f"{_base(request)}/ogc/collections/{cid}"
    out = {
        "id": cid,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            {"href": base, "rel": "self", "type": JSON},
            {"href": f"{base}/items", "rel": "items", "type": GEOJSON, "title": title},
        ],
    }
    if bbox:
        out["extent"] = {"spatial": {"bbox": [list(bbox)], "crs": CRS84}}
    return out


def _layer_collections(request: Request, principal: Principal) -> list[dict]:
    store = request.app.state.store
    out = []
    for prefix, kind in KINDS.items():
        owner = principal.id if kind == "plan" and not principal.sees_everything else None
        for rec in store.list_layers(kind, owner):
            out.append(
                _collection(
                    request,
                    f"{prefix}-{rec['id']}",
                    f"{TITLES[kind]}: {rec['name']}",
                    rec["bbox"],
                    f"{rec['feature_count']} features, {rec['crs']}",
                )
            )
    owner = None if principal.sees_everything else principal.id
    names = {rec["id"]: rec["name"] for rec in store.list_layers("plan", owner)}
    for check in store.list_checks(owner):
        if check["status"] != "successful":
            continue
        totals = (check["summary"] or {}).get("totals", {})
        for suffix, (kind, _) in PIECES.items():
            if _has_kind(totals, kind):
                out.append(
                    _collection(
                        request,
                        f"conflicts-{check['id']}-{suffix}",
                        _conflict_title(check, names.get(check["plan_id"]), suffix),
                        None,
                        f"check {check['id']}, plan {check['plan_id']}",
                    )
                )
    return out


def _has_kind(totals: dict, kind: str) -> bool:
    """Whether a check has pieces of this kind, from its summary's totals (no row read)."""
    field = {"polygon": "area_m2", "line": "length_m", "point": "points"}[kind]
    return any((totals.get(f"{verdict}_{field}") or 0) > 0 for verdict in ("conflict", "conditional"))


def _conflict_title(check: dict, plan_name: str | None, suffix: str | None) -> str:
    what = f" — {PIECES[suffix][1]}" if suffix else ""
    return f"Xung đột / conflicts: {plan_name or check['plan_id']}{what} ({check['created_at'][:10]})"


@router.get("/collections")
def collections(request: Request, principal: Principal = Depends(any_role)):
    return {
        "links": [{"href": f"{_base(request)}/ogc/collections", "rel": "self", "type": JSON}],
        "collections": _layer_collections(request, principal),
    }


def _resolve(request: Request, principal: Principal, cid: str) -> tuple[str, dict, str | None]:
    """('layer' | 'conflicts', record, piece suffix) for a collection id the caller may see; 404 otherwise."""
    store = request.app.state.store
    prefix, _, rid = cid.partition("-")
    suffix = None
    if prefix == "admin" and rid.startswith("units-"):
        prefix, rid = "admin-units", rid[len("units-") :]
    if prefix == "conflicts" and "-" in rid:
        rid, _, suffix = rid.partition("-")
    try:
        if prefix == "conflicts" and (suffix is None or suffix in PIECES):
            rec = store.get_check(rid)
            if principal.may_see(rec) and rec["status"] == "successful":
                return "conflicts", rec, suffix
        elif prefix in KINDS:
            rec = store.get_layer(rid, KINDS[prefix])
            if KINDS[prefix] != "plan" or principal.may_see(rec):
                return "layer", rec, None
    except NotFound:
        pass
    raise HTTPException(404, f"không tìm thấy lớp / collection {cid!r} not found")


@router.get("/collections/{cid}")
def collection(cid: str, request: Request, principal: Principal = Depends(any_role)):
    what, rec, suffix = _resolve(request, principal, cid)
    if what == "layer":
        return _collection(request, cid, f"{TITLES[rec['kind']]}: {rec['name']}", rec["bbox"])
    plan = request.app.state.store.get_layer(rec["plan_id"], "plan")
    return _collection(request, cid, _conflict_title(rec, plan["name"], suffix), None)


@router.get("/collections/{cid}/items", response_class=JSONResponse, responses={200: {"content": {GEOJSON: {}}}})
def items(
    cid: str,
    request: Request,
    bbox: str | None = Query(None, description="minLon,minLat,maxLon,maxLat"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    bbox_crs: str | None = Query(None, alias="bbox-crs", description=f"only {CRS84}"),
    crs: str | None = Query(None, description=f"only {CRS84}"),
    principal: Principal = Depends(any_role),
):
    what, rec, suffix = _resolve(request, principal, cid)
    store = request.app.state.store
    for name, asked in (("bbox-crs", bbox_crs), ("crs", crs)):  # OGC API Features Part 2: only CRS84 is served
        if asked is not None and asked.strip() not in {CRS84, CRS84.replace("http:", "https:")}:
            raise HTTPException(422, f"{name} {asked!r} không hỗ trợ / not supported: only {CRS84}")
    withheld = withheld_for(request, principal, rec, "check" if what == "conflicts" else what)
    box = query_region(parse_bbox(bbox), withheld)
    if what == "layer":
        page = store.layer_features(rec["id"], bbox=box, limit=limit, offset=offset, unmasked=principal.is_admin)
    else:
        kinds = [PIECES[suffix][0]] if suffix else []
        page = store.conflicts(
            rec["id"], ConflictFilter(bbox=box, kind=kinds), limit=limit, offset=offset, unmasked=principal.is_admin
        )
    links = page_links(request, offset, limit, len(page.features), page.matched, GEOJSON)
    links.append({"href": f"{_base(request)}/ogc/collections/{cid}", "rel": "collection", "type": JSON})
    import datetime as dt

    features = withhold(page.features, withheld)
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": page.matched,
        "numberReturned": len(page.features),
        "links": links,
        "timeStamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return JSONResponse(body, media_type=GEOJSON)


@router.get("/collections/{cid}/items/{fid}", response_class=JSONResponse, responses={200: {"content": {GEOJSON: {}}}})
def item(cid: str, fid: str, request: Request, principal: Principal = Depends(any_role)):
    what, rec, suffix = _resolve(request, principal, cid)
    store = request.app.state.store
    try:
        if what == "layer":
            if not fid.isdigit():
                raise NotFound(fid)
            feature = store.layer_feature(rec["id"], int(fid), unmasked=principal.is_admin)
        else:
            feature = store.conflict(rec["id"], fid, unmasked=principal.is_admin)
            if suffix and feature["properties"].get("kind") != PIECES[suffix][0]:
                raise NotFound(fid)
    except NotFound:
        raise HTTPException(404, f"không tìm thấy đối tượng / feature {fid!r} not found in {cid}") from None
    withhold([feature], withheld_for(request, principal, rec, "check" if what == "conflicts" else what))
    base = f"{_base(request)}/ogc/collections/{cid}"
    feature["links"] = [
        {"href": f"{base}/items/{fid}", "rel": "self", "type": GEOJSON},
        {"href": base, "rel": "collection", "type": JSON},
    ]
    return JSONResponse(feature, media_type=GEOJSON)
