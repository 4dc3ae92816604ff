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
