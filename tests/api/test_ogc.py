"""OGC API - Features: landing, conformance, collections, items and one item, as QGIS reads them."""

from __future__ import annotations

import pytest


def test_landing_and_conformance(api):
    body = api.get("/ogc/", "viewer").json()
    rels = {link["rel"]: link for link in body["links"]}
    assert rels["service-desc"]["href"].endswith("/openapi.json")
    # FastAPI writes OpenAPI 3.1: the link's type says the version the document has
    assert api.client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.1"
    assert rels["data"]["href"].endswith("/ogc/collections")
    assert rels["conformance"]["href"].endswith("/ogc/conformance")
    assert api.get("/ogc", "viewer").status_code == 200
    conf = api.get("/ogc/conformance", "viewer").json()["conformsTo"]
    for cls in ("core", "geojson", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{cls}" in conf


def test_collections_items_and_paging(api, scene):
    check = api.post("/api/v1/checks", "planner", json={"plan_id": scene["plan"]}).json()
    assert api.wait(check["id"], "planner")["status"] == "successful"
    ids = {c["id"] for c in api.get("/ogc/collections", "planner").json()["collections"]}
    # one conflict collection per geometry kind present (no point piece here), titled by the plan's name
    assert ids == {
        f"master-{scene['master']}",
        f"plan-{scene['plan']}",
        f"conflicts-{check['id']}-polygons",
        f"conflicts-{check['id']}-lines",
    }
    titles = {c["id"]: c["title"] for c in api.get("/ogc/collections", "planner").json()["collections"]}
    assert titles[f"conflicts-{check['id']}-lines"].startswith("Xung đột / conflicts: QHC Rạch Giá — tuyến / lines")
    assert titles[f"plan-{scene['plan']}"] == "Quy hoạch / plan: QHC Rạch Giá"
    # another planner sees the shared master plan only
    ids2 = {c["id"] for c in api.get("/ogc/collections", "planner2").json()["collections"]}
    assert ids2 == {f"master-{scene['master']}"}
    assert api.get(f"/ogc/collections/plan-{scene['plan']}", "planner2").status_code == 404

    master = api.get(f"/ogc/collections/master-{scene['master']}", "viewer").json()
    lon1, lat1, lon2, lat2 = master["extent"]["spatial"]["bbox"][0]
    assert 105.04 < lon1 < lon2 < 105.06 and 9.94 < lat1 < lat2 < 9.95  # 200 m square near Rạch Giá
    r = api.get(f"/ogc/collections/master-{scene['master']}/items", "viewer", params={"limit": 2})
    assert r.headers["content-type"].startswith("application/geo+json")
    page = r.json()
    assert page["numberMatched"] == 3 and page["numberReturned"] == 2
    nxt = next(link for link in page["links"] if link["rel"] == "next")
    rest = api.client.get(nxt["href"], headers=api.h("viewer")).json()
    assert rest["numberReturned"] == 1 and not any(link["rel"] == "next" for link in rest["links"])
    codes = [f["properties"]["MA_QH"] for f in page["features"] + rest["features"]]
    assert codes == ["LUC", "RPH", "ODT"]
    one = api.get(f"/ogc/collections/master-{scene['master']}/items/1", "viewer")
    assert one.status_code == 200 and one.json()["properties"]["TEN"] == "Rừng phòng hộ ven biển"
    assert api.get(f"/ogc/collections/master-{scene['master']}/items/99", "viewer").status_code == 404
    assert api.get("/ogc/collections/master-nope/items", "viewer").status_code == 404
    # Only CRS84 is served: another bbox-crs or crs is refused, not ignored (its bbox would be misread).
    url = f"/ogc/collections/master-{scene['master']}/items"
    crs84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert api.get(url, "viewer", params={"bbox-crs": crs84}).status_code == 200
    for name in ("bbox-crs", "crs"):
        r = api.get(url, "viewer", params={name: "http://www.opengis.net/def/crs/EPSG/0/9207"})
        assert r.status_code == 422 and "not supported" in r.json()["detail"]

    conflicts = api.get(f"/ogc/collections/conflicts-{check['id']}/items", "viewer", params={"limit": 100}).json()
    assert conflicts["numberMatched"] == 6
    area = sum(f["properties"]["area_m2"] for f in conflicts["features"])
    assert area == pytest.approx(2500 + 2500 + 3600 + 800)  # conflict and conditional polygons, by hand
    fid = conflicts["features"][0]["id"]
    one = api.get(f"/ogc/collections/conflicts-{check['id']}/items/{fid}", "viewer").json()
    assert one["id"] == fid and one["properties"]["conflict_id"] == fid
    assert (
        api.get(f"/ogc/collections/conflicts-{check['id']}/items", "viewer", params={"limit": 10001}).status_code == 422
    )
    # per kind: 4 polygon pieces of 9400 m², 2 line pieces of 90 m each; an item of another kind is 404
    polygons = api.get(f"/ogc/collections/conflicts-{check['id']}-polygons/items", "viewer").json()
    assert polygons["numberMatched"] == 4
    assert {f["geometry"]["type"] for f in polygons["features"]} == {"Polygon"}
    assert sum(f["properties"]["area_m2"] for f in polygons["features"]) == pytest.approx(9400)
    lines = api.get(f"/ogc/collections/conflicts-{check['id']}-lines/items", "viewer").json()
    assert [f["properties"]["length_m"] for f in lines["features"]] == pytest.approx([90, 90])
    line_id = lines["features"][0]["id"]
    assert api.get(f"/ogc/collections/conflicts-{check['id']}-polygons/items/{line_id}", "viewer").status_code == 404
    assert api.get(f"/ogc/collections/conflicts-{check['id']}-lines/items/{line_id}", "viewer").status_code == 200
    assert api.get(f"/ogc/collections/conflicts-{check['id']}-curves/items", "viewer").status_code == 404
    # the default page is what clients use well (GDAL reads it from the OpenAPI document)
    spec = api.client.get("/openapi.json").json()
    params = spec["paths"]["/ogc/collections/{cid}/items"]["get"]["parameters"]
    limit = next(p for p in params if p["name"] == "limit")["schema"]
    assert (limit["default"], limit["maximum"]) == (1000, 10000)
