"""Masking that really hides (issue 12): from everything a viewer can fetch, the outline of masked
defence or security land cannot be rebuilt.  Nulling the masked rows alone is not enough: the zones
around a defence zone keep a hole of exactly its shape, and conflict pieces beside it trace its edge.
So for non-admins every geometry loses the 500 m cells (the grid of the masked maps) that touch such
land; an admin still gets every geometry exactly.

The scene (EPSG:9207) is laid off the 500 m grid by 137 m: a 4 × 4 block of 400 m master zones with
a rotated, irregular defence zone (CQP) cut out where four zones meet; a plan with an ODT block and
a road over it, and a security feature (CAN) cut out of a TMD block.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import affinity

from kgspatial import crs as crs_mod
from tests import geoms

OX, OY = geoms.X0 + 137.0, geoms.Y0 + 263.0  # the block's corner: on no 500 m grid line
RULES = geoms.RULES_CSV + "R06,*,CQP,conflict,high,Luật Quốc phòng 2018,Công trình trên đất quốc phòng\n"


def _at(x, y):
    return OX + x, OY + y


def _irregular(cx, cy, radii, angle):
    """An irregular polygon around (cx, cy) turned by `angle` degrees: aligned to nothing."""
    pts = [
        _at(cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a)))
        for a, r in zip(range(0, 360, 360 // len(radii)), radii)
    ]
    return affinity.rotate(shapely.Polygon(pts), angle, origin="centroid")


DEFENCE = _irregular(800, 800, [190, 120, 210, 150, 170, 230, 110], 23)  # where four zones meet
SECURITY = _irregular(1250, 300, [90, 60, 110, 70, 100], 41)  # inside the plan's TMD block
BLOCK = shapely.box(*_at(0, 0), *_at(1600, 1600))
CODES = ["LUC", "RPH", "ODT", "LUC"]


def _master() -> gpd.GeoDataFrame:
    zones, codes = [], []
    for i in range(4):
        for j in range(4):
            zones.append(shapely.box(*_at(400 * i, 400 * j), *_at(400 * (i + 1), 400 * (j + 1))).difference(DEFENCE))
            codes.append(CODES[(i + j) % 4])
    return gpd.GeoDataFrame(
        {"MA_QH": codes + ["CQP"], "TEN": [f"Vùng {k}" for k in range(16)] + ["Khu quân sự"]},
        geometry=zones + [DEFENCE],
        crs=geoms.CRS,
    )


def _plan() -> gpd.GeoDataFrame:
    odt = shapely.box(*_at(550, 600), *_at(1050, 1000))
    tmd = shapely.box(*_at(1100, 150), *_at(1450, 450)).difference(SECURITY)
    road = shapely.LineString([_at(100, 830), _at(1500, 760)])
    return gpd.GeoDataFrame(
        {"ma": ["ODT", "DGT", "TMD", "CAN"], "ten": ["Khu ở", "Đường", "Chợ", "Công an"]},
        geometry=[odt, road, tmd, SECURITY],
        crs=geoms.CRS,
    )


@pytest.fixture()
def hidden(api, tmp_path):
    _master().to_file(tmp_path / "master.gpkg")
    _plan().to_file(tmp_path / "plan.gpkg")
    (tmp_path / "rules.csv").write_text(RULES, encoding="utf-8")
    master = api.upload("masters", tmp_path / "master.gpkg", name="QH tỉnh").json()["id"]
    rules = api.upload("rules", tmp_path / "rules.csv").json()["id"]
    r = api.upload("plans", tmp_path / "plan.gpkg", "planner", name="QH phân khu", plan_type="urban_zoning")
    assert r.status_code == 201, r.text
    check = api.post("/api/v1/checks", "planner", json={"plan_id": r.json()["id"], "rules_id": rules}).json()
    assert api.wait(check["id"], "planner")["status"] == "successful"
    return {"master": master, "plan": r.json()["id"], "check": check["id"]}


def _analysis(geometry: dict | None):
    if geometry is None:
        return None
    return crs_mod.transform_geometries([shapely.geometry.shape(geometry)], "EPSG:4326", geoms.CRS)[0]


def _everything(api, who: str) -> dict[str, list[dict]]:
    """Every feature `who` can fetch, by where it came from: OGC items of every collection (and each
    item alone), and the conflicts route of every check."""
    out: dict[str, list[dict]] = {}
    for coll in api.get("/ogc/collections", who).json()["collections"]:
        url = f"/ogc/collections/{coll['id']}/items"
        page = api.get(url, who, params={"limit": 10000}).json()
        assert page["numberReturned"] == page["numberMatched"]
        # a check's pieces come in one collection per geometry kind (-polygons, -lines, -points)
        key = coll["id"].rsplit("-", 1)[0] if coll["id"].startswith("conflicts-") else coll["id"]
        out.setdefault(key, []).extend(page["features"])
        for f in page["features"]:
            one = api.get(f"{url}/{f['id']}", who).json()
            assert one["geometry"] == f["geometry"] and one["properties"] == f["properties"]
    for check in api.get("/api/v1/checks", who).json()["items"]:
        out[f"route-{check['id']}"] = api.get(
            f"/api/v1/checks/{check['id']}/conflicts", who, params={"limit": 10000}
        ).json()["features"]
    return out


def _traced(zone, visible) -> float:
    """The share of the zone's outline that lies within 1 m of the edge of anything visible."""
    edges = shapely.union_all([shapely.boundary(g) if g.geom_type.endswith("Polygon") else g for g in visible])
    return shapely.intersection(zone.boundary, edges.buffer(1.0)).length / zone.boundary.length


def _iou(a, b) -> float:
    return shapely.intersection(a, b).area / shapely.union(a, b).area


def test_masked_outline_cannot_be_rebuilt_from_what_a_viewer_fetches(api, hidden):
    seen = _everything(api, "viewer")
    assert set(seen) == {
        f"master-{hidden['master']}",
        f"plan-{hidden['plan']}",
        f"conflicts-{hidden['check']}",
        f"route-{hidden['check']}",
    }
    visible = [g for feats in seen.values() for f in feats if (g := _analysis(f["geometry"])) is not None]
    assert len(visible) > 10  # much stays visible away from the masked land
    master = [g for f in seen[f"master-{hidden['master']}"] if (g := _analysis(f["geometry"])) is not None]
    plan = [g for f in seen[f"plan-{hidden['plan']}"] if (g := _analysis(f["geometry"])) is not None]
    # the hole the master zones leave, and the one the TMD block leaves, are far larger than the land
    master_hole = BLOCK.difference(shapely.union_all(master))
    plan_hole = shapely.box(*_at(1100, 150), *_at(1450, 450)).difference(shapely.union_all(plan))
    assert _iou(master_hole, DEFENCE) < 0.5 and _iou(plan_hole, SECURITY) < 0.5
    # the plan's security land shapes the plan and the pieces, never the master plan's zones
    shaped = {
        DEFENCE: visible,
        SECURITY: plan
        + [
            g
            for key in (f"conflicts-{hidden['check']}", f"route-{hidden['check']}")
            for f in seen[key]
            if (g := _analysis(f["geometry"])) is not None
        ],
    }
    for zone in (DEFENCE, SECURITY):
        assert _traced(zone, visible) < 0.05
        # no vertex within 50 m of its outline, but where a cut meets the public 500 m grid lines
        xy = np.concatenate([shapely.get_coordinates(g) for g in shaped[zone]])
        near = xy[shapely.distance(zone.boundary, shapely.points(xy)) < 50.0]
        on_grid = np.abs((near + 250) % 500 - 250) < 0.01
        assert on_grid.any(axis=1).all(), near[~on_grid.any(axis=1)]
        # whole 500 m cells are left out: nothing it shapes comes into a cell the zone touches
        cells = [
            shapely.box(x, y, x + 500, y + 500)
            for x in np.arange(*np.floor(np.array(zone.bounds)[[0, 2]] / 500) * 500 + [0, 500], 500)
            for y in np.arange(*np.floor(np.array(zone.bounds)[[1, 3]] / 500) * 500 + [0, 500], 500)
        ]
        touched = shapely.union_all([c for c in cells if c.intersects(zone)])
        assert not any(g.intersects(touched.buffer(-0.01)) for g in shaped[zone])
    # what was cut says so; masked rows as before; areas are the whole piece's, as an admin reads them
    admin = {
        f["id"]: f
        for f in api.get(f"/api/v1/checks/{hidden['check']}/conflicts", "admin", params={"limit": 10000}).json()[
            "features"
        ]
    }
    rows = seen[f"route-{hidden['check']}"]
    assert {f["id"] for f in rows} == set(admin)
    for f in rows:
        p = f["properties"]
        assert p["area_m2"] == admin[f["id"]]["properties"]["area_m2"]
        assert p["withheld"] is (p["masked"] or f["geometry"] != admin[f["id"]]["geometry"])
        assert admin[f["id"]]["properties"]["withheld"] is False
    assert any(f["properties"]["withheld"] and not f["properties"]["masked"] and f["geometry"] for f in rows)
    # ODT on the rice zones (each without the defence land): worked out from the inputs alone
    master = _master()
    rice = shapely.union_all(master.geometry[master["MA_QH"] == "LUC"])
    expected = shapely.box(*_at(550, 600), *_at(1050, 1000)).intersection(rice).area
    odt_on_rice = [f for f in rows if f["properties"]["rule_id"] == "R01"]
    assert sum(f["properties"]["area_m2"] for f in odt_on_rice) == pytest.approx(expected, rel=1e-9)
    assert all(f["properties"]["withheld"] for f in odt_on_rice)


def test_admin_still_gets_every_geometry_exactly(api, hidden):
    seen = _everything(api, "admin")
    master = [_analysis(f["geometry"]) for f in seen[f"master-{hidden['master']}"]]
    assert all(g is not None for g in master)
    cqp = [g for f, g in zip(seen[f"master-{hidden['master']}"], master) if f["properties"]["MA_QH"] == "CQP"]
    assert len(cqp) == 1 and _iou(cqp[0], DEFENCE) > 0.99999  # through EPSG:4326 and back
    others = shapely.union_all([g for g in master if g is not cqp[0]])
    assert _iou(BLOCK.difference(others), DEFENCE) > 0.99999
    assert all(
        f["geometry"] is not None and f["properties"]["withheld"] is False for feats in seen.values() for f in feats
    )


def test_bbox_cannot_probe_inside_the_withheld_cells(api, hidden):
    """A bbox matched against the whole geometry would tell, box by box, where a neighbour's edge
    runs inside the withheld cells: for non-admins a box matches what is visible of a feature."""
    x, y = np.floor(np.array(DEFENCE.centroid.coords[0]) / 500) * 500  # the cell under the land's centre
    probe = shapely.box(x + 1, y + 1, x + 499, y + 499).difference(DEFENCE)
    assert probe.area > 0
    probe = probe.buffer(-1).envelope if probe.buffer(-1).envelope.within(probe) else probe
    tiny = shapely.box(x + 2, y + 2, x + 20, y + 20)
    bbox = ",".join(f"{v:.9f}" for v in crs_mod.transform_geometries([tiny], geoms.CRS, "EPSG:4326")[0].bounds)
    for url in (f"/ogc/collections/master-{hidden['master']}/items", f"/api/v1/checks/{hidden['check']}/conflicts"):
        assert api.get(url, "viewer", params={"bbox": bbox}).json()["numberMatched"] == 0
    assert (
        api.get(f"/ogc/collections/master-{hidden['master']}/items", "admin", params={"bbox": bbox}).json()[
            "numberMatched"
        ]
        >= 1
    )
    # a box over the whole block still finds the visible parts
    whole = ",".join(f"{v:.9f}" for v in crs_mod.transform_geometries([BLOCK], geoms.CRS, "EPSG:4326")[0].bounds)
    r = api.get(f"/ogc/collections/master-{hidden['master']}/items", "viewer", params={"bbox": whole}).json()
    assert 0 < r["numberMatched"] < 17


def test_another_plan_drawn_around_masked_land_does_not_trace_it(api, hidden, tmp_path):
    """A second planner's plan whose block has a hole exactly where the first plan's security land is."""
    around = shapely.box(*_at(1100, 150), *_at(1450, 450)).difference(SECURITY)
    gpd.GeoDataFrame({"ma": ["TMD"], "ten": ["Chợ mới"]}, geometry=[around], crs=geoms.CRS).to_file(tmp_path / "b.gpkg")
    r = api.upload("plans", tmp_path / "b.gpkg", "planner2", name="QH khác", plan_type="rural")
    assert r.status_code == 201, r.text
    items = api.get(f"/ogc/collections/plan-{r.json()['id']}/items", "viewer").json()["features"]
    visible = [g for f in items if (g := _analysis(f["geometry"])) is not None]
    hole = shapely.box(*_at(1100, 150), *_at(1450, 450)).difference(
        shapely.union_all(visible) if visible else shapely.Polygon()
    )
    assert _iou(hole, SECURITY) < 0.5 and _traced(SECURITY, visible) < 0.05
    assert all(f["properties"]["withheld"] for f in items)
    exact = api.get(f"/ogc/collections/plan-{r.json()['id']}/items", "admin").json()["features"]
    assert _iou(_analysis(exact[0]["geometry"]), around) > 0.9999
