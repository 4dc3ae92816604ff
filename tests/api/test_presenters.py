"""The map and the reports of a check, served with the same masking as every other output."""

from __future__ import annotations

import io
import re

import pytest

from tests.api.test_auth_masking import defence  # noqa: F401  (fixture)


def test_map_and_reports(api, defence):  # noqa: F811
    base = f"/api/v1/checks/{defence['check']}"
    r = api.get(base + "/map", "planner")
    if r.status_code == 501:
        pytest.skip(r.json()["detail"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text.lower()
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?://", r.text)  # nothing fetched from outside
    assert api.get(base + "/map", "planner2").status_code == 404
    assert api.get(base + "/report", "planner", params={"format": "doc"}).status_code == 422
    r = api.get(base + "/report", "viewer", params={"format": "xlsx"})
    assert r.status_code == 200 and r.content[:2] == b"PK"
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
    cells = [str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert "R06" in cells  # the defence row stays, with its rule...
    r = api.get(base + "/report", "admin", params={"format": "html"})
    assert r.status_code == 200 and "R06" in r.text


def test_masked_drawings_leave_out_whole_cells(api, defence):  # noqa: F811
    """Leaving out only the defence feature would leave its outline as a hole in the zones and pieces
    around it (a reviewer read it off a planner's map): drawings leave out the 500 m cells it touches."""
    import shapely

    from api.render import result_for

    app = api.client.app
    full = result_for(app, defence["check"], unmasked=True)
    masked = result_for(app, defence["check"], unmasked=False)
    assert full.withheld is None
    plan = full.plans[0]
    defence_land = plan.geoms[plan.codes == "CQP"][0]  # [10,30]×[5,20] from the scene's origin
    cells = masked.withheld
    assert cells.covers(defence_land) and cells.area == 500.0 * 500.0  # it lies in one cell
    assert all(v % 500 == 0 for v in cells.bounds)
    inside = cells.buffer(-0.01)
    drawn = [*masked.master.geoms, *masked.plans[0].geoms, *(g for g in masked.conflicts.geometry if g is not None)]
    assert not any(shapely.intersects(g, inside) for g in drawn)
    # the whole 200 m scene lies in that cell: nothing of it is drawn (tests/test_maps.py has a larger one)
    assert len(full.master.geoms) == 3 and len(masked.master.geoms) == 0
    assert len(masked.conflicts) == len(full.conflicts)  # rows and their figures stay
    r = api.get(f"/api/v1/checks/{defence['check']}/map", "planner")
    if r.status_code == 501:
        pytest.skip(r.json()["detail"])
    assert '"withheld": 1' in r.text and "/ not drawn)" in r.text and "(500 m cells)" in r.text


def test_service_report_names_the_plan_as_uploaded(api, defence):  # noqa: F811
    """The report says which plan it is about as the planner named it, not by its hex id."""
    import openpyxl

    base = f"/api/v1/checks/{defence['check']}/report"
    r = api.get(base, "planner", params={"format": "html"})
    if r.status_code == 501:
        pytest.skip(r.json()["detail"])
    assert "<title>Báo cáo kiểm tra sự phù hợp quy hoạch: QH có đất quốc phòng</title>" in r.text
    book = openpyxl.load_workbook(io.BytesIO(api.get(base, "planner", params={"format": "xlsx"}).content))
    cells = [str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert "QH có đất quốc phòng" in cells and "plan_qp.gpkg" in cells
    from kgspatial.reports.labels import Labels

    assert Labels(False).plan_type("urban_zoning") in cells
