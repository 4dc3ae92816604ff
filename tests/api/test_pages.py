"""The web pages (CONTRACT §11) over HTTP, on both stores: sign-in with the key in an HttpOnly
session cookie, roles and masking on every page as in §5, CSRF, and the check page's figures.

Hand-worked figures (tests/geoms.py, no administrative units): conflict pieces KDC-01 on LUC
2500 m² (R01) and on RPH 2500 m² (R02), CCN-1 on RPH 800 m² (R02), DT963 on RPH 90 m (R02) -> 4
pieces, 5800 m² = 0,5800 ha; conditional CHO-1 on ODT 3600 m² (R04) and DT963 on LUC 90 m (R03)
-> 2 pieces, 0,3600 ha.
"""

from __future__ import annotations

import base64
import io
import json
import re

import pyogrio
import pytest

from api import pages
from tests.api.test_auth_masking import defence  # noqa: F401  (fixture)

ROW = re.compile(r'<tr data-conflict-id="([0-9a-f]+)"( class="masked")?>(.*?)</tr>', re.S)


def signin(api, who: str):
    api.client.cookies.clear()
    r = api.client.post("/signin", data={"key": api.keys[who]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', html).group(1)


def rows(html: str) -> list[tuple[str, bool, list[str]]]:
    out = []
    for cid, masked, body in ROW.findall(html):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
        out.append((cid, bool(masked), cells))
    return out


@pytest.fixture()
def checked(api, scene):
    check = api.post("/api/v1/checks", "planner", json={"plan_id": scene["plan"]}).json()
    assert api.wait(check["id"], "planner")["status"] == "successful"
    return {**scene, "check": check["id"]}


def test_signin_cookie_is_httponly_session_and_key_never_in_a_url(api):
    r = api.client.get("/")
    assert r.status_code == 200
    assert re.search(r'<input type="password" id="key" name="key"', r.text)
    assert '<button type="submit">Đăng nhập</button>' in r.text
    assert "Sign in" in api.client.get("/?lang=en").text
    bad = api.client.post("/signin", data={"key": "kgs_wrong"}, follow_redirects=False)
    assert bad.status_code == 401 and "Khóa API không hợp lệ" in bad.text and "set-cookie" not in bad.headers
    r = signin(api, "planner")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()  # a session cookie
    assert api.keys["planner"] not in r.headers["location"]
    assert r.headers["location"] == "/plans"
    page = api.client.get("/plans")
    assert page.status_code == 200 and api.keys["planner"] not in page.text
    assert api.client.post("/signout", follow_redirects=False).status_code == 303
    api.client.cookies.clear()
    r = api.client.get("/plans", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?next=%2Fplans"
    # the sign-in sends a user back where they were, never to another site
    r = api.client.post("/signin", data={"key": api.keys["viewer"], "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/plans"
    r = api.client.post("/signin", data={"key": api.keys["admin"]}, follow_redirects=False)
    assert r.headers["location"] == "/admin"


def test_cookie_reads_but_never_writes_the_api(api, checked):
    signin(api, "planner")
    assert api.client.get(f"/api/v1/checks/{checked['check']}").status_code == 200
    # a POST with the cookie alone (what a forged cross-site form sends) is refused
    r = api.client.post("/api/v1/checks", json={"plan_id": checked["plan"]})
    assert r.status_code == 401
    assert api.client.delete(f"/api/v1/plans/{checked['plan']}").status_code == 401


def test_pages_post_need_the_csrf_token_and_this_origin(api, scene, scene_files):
    signin(api, "planner")
    before = api.get("/api/v1/plans", "admin").json()["total"]
    with open(scene_files / "plan.gpkg", "rb") as f:
        r = api.client.post(
            "/plans/new",
            data={"name": "x", "plan_type": "rural"},
            files={"file": ("plan.gpkg", f)},
            follow_redirects=False,
        )
    assert r.status_code == 403 and "tải lại trang" in r.text
    token = csrf(api.client.get("/plans/new").text)
    with open(scene_files / "plan.gpkg", "rb") as f:
        r = api.client.post(
            "/plans/new",
            data={"csrf": token, "name": "x", "plan_type": "rural"},
            files={"file": ("plan.gpkg", f)},
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
    assert r.status_code == 403
    r = api.client.post(f"/plans/{scene['plan']}/checks", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert api.get("/api/v1/plans", "admin").json()["total"] == before
    assert api.get("/api/v1/checks", "admin").json()["total"] == 0


def test_planner_journey_upload_warnings_check_result(api, scene, scene_files, tmp_path):
    signin(api, "planner")
    form = api.client.get("/plans/new").text
    for name in (
        "file",
        "name",
        "plan_type",
        "decision",
        "approved",
        "authority",
        "code_field",
        "label_field",
        "encoding",
        "assume_crs",
    ):
        assert f'name="{name}"' in form, name
    assert '<option value="urban_general">Quy hoạch chung đô thị</option>' in form
    assert "Quy hoạch ngành (thủy lợi)" in form
    # A bad plan type: the form again, its values kept, the error shown, nothing stored.
    with open(scene_files / "plan.gpkg", "rb") as f:
        r = api.client.post(
            "/plans/new",
            data={"csrf": csrf(form), "name": "QH thử", "plan_type": "bogus"},
            files={"file": ("plan.gpkg", f)},
        )
    assert (
        r.status_code == 422 and "&#39;bogus&#39; không phải là loại quy hoạch" in r.text and 'value="QH thử"' in r.text
    )
    # A plan with a code not in the taxonomy: its warning shows before any check.
    import geopandas as gpd

    from tests import geoms

    frame = geoms.plan_frame()
    frame.loc[5, "ma"] = "XYZ"
    buf = io.BytesIO()
    path = tmp_path / "plan_unknown.gpkg"
    gpd.GeoDataFrame(frame, crs=geoms.CRS).to_file(path)
    buf.write(path.read_bytes())
    r = api.client.post(
        "/plans/new",
        data={"csrf": csrf(form), "name": "QH có mã lạ", "plan_type": "rural"},
        files={"file": ("plan_unknown.gpkg", buf.getvalue())},
        follow_redirects=False,
    )
    assert r.status_code == 303
    plan_page = api.client.get(r.headers["location"]).text
    assert "Đã tải lên." in plan_page
    warning = re.search(r'<ul class="warn" id="warnings"><li>(.*?)</li>', plan_page).group(1)
    assert warning.startswith("1 đối tượng có mã không có trong bảng phân loại: XYZ (1)")
    assert "1 feature(s) with codes not in the taxonomy: XYZ (1)" in warning
    # start the check of the scene's plan from its page, then watch it
    page = api.client.get(f"/plans/{scene['plan']}").text
    assert "Chưa kiểm tra lần nào." in page
    r = api.client.post(
        f"/plans/{scene['plan']}/checks", data={"csrf": csrf(page), "min_area": ""}, follow_redirects=False
    )
    assert r.status_code == 303
    check_id = r.headers["location"].rsplit("/", 1)[1]
    status = api.wait(check_id, "planner")["status"]
    assert status == "successful"
    html = api.client.get(f"/checks/{check_id}").text
    assert 'data-status="successful"' in html and 'http-equiv="refresh"' not in html
    totals = re.search(r'<table id="totals".*?</table>', html, re.S).group(0)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", totals, re.S)]
    assert cells[:5] == ["Xung đột", "4", "0,5800 ha", "90,0 m", "0"]
    assert cells[5:10] == ["Có điều kiện", "2", "0,3600 ha", "90,0 m", "0"]
    got = rows(html)
    assert len(got) == 6 and "Đang hiện 1–6 trên 6 mảnh" in html
    assert got[0][2][:3] == [got[0][0], "CHO-1", "TMD — Chợ"] and got[0][2][8] == "0,3600 ha"  # largest first
    # downloads and the map open with the cookie alone
    for href in re.findall(r'href="(/api/v1/checks/[^"]+)"', html):
        assert api.client.get(href.replace("&amp;", "&")).status_code == 200, href
    assert f'<iframe class="map" src="/api/v1/checks/{check_id}/map"' in html
    # the conflicts as a GeoPackage: 9400 m² of pieces (5800 + 3600) and 180 m of lines (90 + 90)
    gpkg = api.client.get(f"/api/v1/checks/{check_id}/download?format=gpkg")
    path = tmp_path / "dl.gpkg"
    path.write_bytes(gpkg.content)
    df = pyogrio.read_dataframe(path)
    assert len(df) == 6 and df.crs.to_epsg() == 9207
    assert df.geometry.area.sum() == pytest.approx(9400, abs=1e-6)
    assert df.geometry.length[df["kind"] == "line"].sum() == pytest.approx(180, abs=1e-6)
    assert api.client.get(f"/api/v1/checks/{check_id}/download?format=shp").status_code == 422


def test_check_table_filters_sorts_pages(api, checked, monkeypatch):
    signin(api, "viewer")
    url = f"/checks/{checked['check']}"
    high = rows(api.client.get(url, params={"severity": "high"}).text)
    assert sorted(r[2][1] for r in high) == ["CCN-1", "DT963", "KDC-01", "KDC-01"]
    cond = rows(api.client.get(url, params={"verdict": "conditional"}).text)
    assert sorted(r[2][4] for r in cond) == ["R03", "R04"]
    asc = rows(api.client.get(url, params={"sort": "area_m2", "order": "asc"}).text)
    assert [r[2][8] for r in asc] == ["", "", "0,0800 ha", "0,2500 ha", "0,2500 ha", "0,3600 ha"]
    by_severity = rows(api.client.get(url, params={"sort": "severity"}).text)
    assert [r[2][6] for r in by_severity] == ["Cao"] * 4 + ["Trung bình", "Thấp"]
    monkeypatch.setattr(pages, "PAGE_SIZE", 4)
    second = api.client.get(url, params={"page": 2, "sort": "area_m2", "order": "asc"}).text
    assert [r[2][8] for r in rows(second)] == ["0,2500 ha", "0,3600 ha"]
    assert "Đang hiện 5–6 trên 6 mảnh" in second and 'rel="prev"' in second and 'rel="next"' not in second
    en = api.client.get(url, params={"lang": "en", "sort": "area_m2"}).text
    assert "Conflict pieces" in en and "0.3600 ha" in en and "Showing 1–4 of 6 pieces" in en
    assert 'href="/checks/' + checked["check"] + "?page=2&amp;sort=area_m2&amp;order=desc&amp;lang=en" in en
    assert api.client.get(url, params={"sort": "geometry"}).status_code == 422


def test_roles_on_every_page(api, checked):
    plan, check = checked["plan"], checked["check"]
    pages_all = ["/plans", f"/plans/{plan}", f"/checks/{check}", "/register"]
    signin(api, "viewer")
    for url in pages_all:
        assert api.client.get(url).status_code == 200, url
    assert api.client.get("/plans/new").status_code == 403
    assert api.client.get("/admin").status_code == 403
    assert "Bắt đầu kiểm tra" not in api.client.get(f"/plans/{plan}").text  # viewers do not check
    signin(api, "planner2")  # another planner: the plan and check do not exist for them
    assert api.client.get(f"/plans/{plan}").status_code == 404
    assert api.client.get(f"/checks/{check}").status_code == 404
    assert "QHC Rạch Giá" not in api.client.get("/plans").text
    assert api.client.get(f"/api/v1/checks/{check}/map").status_code == 404
    token = csrf(api.client.get("/plans/new").text)
    assert api.client.post(f"/plans/{plan}/checks", data={"csrf": token}).status_code == 404
    assert api.client.get("/admin").status_code == 403
    signin(api, "planner")
    assert "QHC Rạch Giá" in api.client.get("/plans").text
    assert api.client.get("/admin").status_code == 403
    signin(api, "admin")
    admin = api.client.get("/admin").text
    for form in ("form-masters", "form-units", "form-rules"):
        assert f'id="{form}"' in admin
    assert api.client.get(f"/checks/{check}").status_code == 200


def test_admin_uploads_from_the_page(api, scene_files):
    signin(api, "admin")
    token = csrf(api.client.get("/admin").text)
    with open(scene_files / "xa.gpkg", "rb") as f:
        r = api.client.post(
            "/admin/admin-units",
            data={"csrf": token, "name": "Xã 2025", "code_field": "ma_xa", "name_field": "ten_xa"},
            files={"file": ("xa.gpkg", f)},
            follow_redirects=False,
        )
    assert r.status_code == 303
    units = api.get("/api/v1/admin-units").json()["items"]
    assert [(u["name"], u["feature_count"], u["code_field"]) for u in units] == [("Xã 2025", 2, "ma_xa")]
    bad = api.client.post(
        "/admin/rules", data={"csrf": token}, files={"file": ("rules.csv", b"rule_id,plan_code\nR1,ODT\n")}
    )
    assert bad.status_code == 422 and 'class="error"' in bad.text
    assert api.get("/api/v1/rules").json()["total"] == 0


def test_masking_on_the_check_page_and_downloads(api, defence):
    """The CQP feature QP-7 on LUC (300 m², R06): its master label 'Lúa chuyên canh' and its
    geometry reach the admin only."""
    check = defence["check"]
    seen = {}
    for who in ("viewer", "planner", "admin"):
        signin(api, who)
        found = {r[2][1]: r for r in rows(api.client.get(f"/checks/{check}").text)}
        seen[who] = found["QP-7"]
        geo = json.loads(api.client.get(f"/api/v1/checks/{check}/download?format=geojson").content)
        qp = [f for f in geo["features"] if f["properties"]["plan_feature"] == "QP-7"]
        assert len(qp) == 1
        if who == "admin":
            assert qp[0]["geometry"] is not None and qp[0]["properties"]["master_label"] == "Lúa chuyên canh"
        else:
            assert qp[0]["geometry"] is None and qp[0]["properties"]["master_label"] is None
            assert qp[0]["properties"]["master_feature"] is None
        assert qp[0]["properties"]["area_m2"] == pytest.approx(300)
    for who in ("viewer", "planner"):
        _, masked, cells = seen[who]
        assert masked and "Lúa chuyên canh" not in cells[3] and "ẩn" in cells[3]
        assert cells[4] == "R06" and cells[8] == "0,0300 ha"
    _, masked, cells = seen["admin"]
    assert not masked and cells[3] == "LUC — Lúa chuyên canh"


def test_ogc_takes_the_key_as_basic_password(api, checked):
    basic = "Basic " + base64.b64encode(f"qgis:{api.keys['viewer']}".encode()).decode()
    r = api.client.get("/ogc/collections", headers={"Authorization": basic})
    assert r.status_code == 200
    ids = [c["id"] for c in r.json()["collections"]]
    assert f"conflicts-{checked['check']}-polygons" in ids
    r = api.client.get("/ogc/collections", auth=("anyone", "kgs_wrong"))
    assert r.status_code == 401 and "Basic" in r.headers["www-authenticate"]
    # Basic is for OGC clients only; the JSON API keeps Bearer
    assert api.client.get("/api/v1/plans", headers={"Authorization": basic}).status_code == 401


def test_register_page_shows_legal_and_review_status(api, scene, scene_files):
    """A plan approved 2019-05-10 (decision 1234/QĐ-UBND) is in force; checked with 4 open conflict
    pieces (0,5800 ha, by hand as above) it needs adjustment. The scene's own plan has no decision:
    a draft. Another planner's plans are not in their register."""
    r = api.upload(
        "plans",
        scene_files / "plan.gpkg",
        "planner",
        name="QHC Rạch Giá 2019",
        plan_type="urban_general",
        decision="1234/QĐ-UBND",
        approved="2019-05-10",
        authority="UBND tỉnh Kiên Giang",
    )
    assert r.status_code == 201, r.text
    approved = r.json()["id"]
    check = api.post("/api/v1/checks", "planner", json={"plan_id": approved}).json()
    assert api.wait(check["id"], "planner")["status"] == "successful"
    signin(api, "viewer")
    html = api.client.get("/register", params={"on": "2025-12-31"}).text
    row = re.search(rf'<tr data-plan-id="{approved}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[:6] == [
        "QHC Rạch Giá 2019",
        "Quy hoạch chung đô thị",
        "1234/QĐ-UBND",
        "2019-05-10",
        "UBND tỉnh Kiên Giang",
        "Còn hiệu lực",
    ]
    assert cells[7] == "Cần điều chỉnh" and cells[9] == "4" and cells[10] == "0,5800 ha" and cells[11] == check["id"]
    draft = re.search(rf'<tr data-plan-id="{scene["plan"]}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "Dự thảo" in draft
    assert 'value="2025-12-31"' in html
    assert api.client.get("/register", params={"on": "31/12/2025"}).status_code == 422
    en = api.client.get("/register", params={"on": "2025-12-31", "lang": "en"}).text
    assert "In force" in en and "Needs adjustment" in en
    signin(api, "planner2")
    assert 'data-plan-id="' not in api.client.get("/register").text


def test_a_queued_check_page_refreshes_itself(make_settings, scene_files):
    """With no worker the check stays queued: its page says so and reloads every 2 s, no result yet."""
    from fastapi.testclient import TestClient

    from api import create_app
    from tests.api.conftest import Api

    app = create_app(make_settings(workers=0))
    with TestClient(app) as client:
        keys = {
            "admin": app.state.store.create_key("admin", "admin")[1],
            "planner": app.state.store.create_key("planner", "planner")[1],
        }
        api = Api(client, keys)
        assert api.upload("masters", scene_files / "master.gpkg", name="QH tỉnh").status_code == 201
        plan = api.upload("plans", scene_files / "plan.gpkg", "planner", name="QH", plan_type="rural").json()
        check = api.post("/api/v1/checks", "planner", json={"plan_id": plan["id"]}).json()
        signin(api, "planner")
        html = api.client.get(f"/checks/{check['id']}").text
        assert '<meta http-equiv="refresh" content="2">' in html and 'data-status="accepted"' in html
        assert "Đang chờ" in html and 'id="conflicts"' not in html and "/download" not in html
        assert api.client.get(f"/api/v1/checks/{check['id']}/download?format=gpkg").status_code == 409


def test_admin_accepts_an_exception_from_the_page(api, scene):
    """CONTRACT §11: the admin page's exceptions form posts the API's fields through the pages'
    CSRF-protected path and lists the exceptions kept; planners and viewers cannot post it."""
    plan = scene["plan"]
    signin(api, "admin")
    page = api.client.get("/admin").text
    form = re.search(r'<form[^>]*id="form-exceptions"[^>]*>(.*?)</form>', page, re.S)
    assert form and 'action="/admin/exceptions"' in form.group(0)
    names = set(re.findall(r'name="([a-z_]+)"', form.group(1)))
    assert names == {
        "csrf",
        "plan_id",
        "rule_id",
        "plan_feature",
        "master_feature",
        "decision",
        "until",
        "basis",
        "note",
        "against",
    }
    assert '<button type="submit">Tải lên</button>' in form.group(1)
    assert "Chưa có ngoại lệ nào." in page
    assert "No exception yet." in api.client.get("/admin?lang=en").text
    fields = {
        "plan_id": plan,
        "rule_id": "R02",
        "plan_feature": "KDC-01",
        "master_feature": "*",
        "decision": "123/QĐ-UBND",
        "until": "2030-12-31",
        "basis": "",
        "note": "",
        "against": "",
    }
    token = csrf(page)
    assert api.client.post("/admin/exceptions", data=fields, follow_redirects=False).status_code == 403  # no token
    bad = api.client.post("/admin/exceptions", data={**fields, "csrf": token, "decision": "", "against": "qhc"})
    assert bad.status_code == 422 and 'class="error"' in bad.text
    assert "row 1, decision: trống / empty" in bad.text and 'value="qhc"' in bad.text  # kept in the form
    assert api.get("/api/v1/exceptions").json()["total"] == 0
    r = api.client.post("/admin/exceptions", data={**fields, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    (kept,) = api.get("/api/v1/exceptions").json()["items"]
    assert (
        kept["plan_id"],
        kept["rule_id"],
        kept["plan_feature"],
        kept["master_feature"],
        kept["decision"],
        kept["until"],
        kept["against"],
    ) == (plan, "R02", "KDC-01", "*", "123/QĐ-UBND", "2030-12-31", "master")
    listed = re.search(r'<table id="exceptions">(.*?)</table>', api.client.get("/admin").text, re.S).group(1)
    assert "KDC-01" in listed and "123/QĐ-UBND" in listed and "2030-12-31" in listed
    for who in ("planner", "viewer"):
        signin(api, who)
        token = csrf(api.client.get("/plans/new").text) if who == "planner" else token  # their own token
        r = api.client.post("/admin/exceptions", data={**fields, "csrf": token, "rule_id": "R01"})
        assert r.status_code == 403, who
    assert api.get("/api/v1/exceptions").json()["total"] == 1


def test_admin_accepts_a_finding_from_the_page(api, scene):
    """An exception for KDC-01 on LUC (R01, 2500 m²) from the admin page: the next check has 3 open
    conflict pieces, 5800 − 2500 = 3300 m² = 0,3300 ha, and the table marks the excepted row."""
    signin(api, "admin")
    page = api.client.get("/admin").text
    assert 'id="form-exceptions"' in page and 'name="plan_id"' in page
    fields = {
        "csrf": csrf(page),
        "plan_id": scene["plan"],
        "rule_id": "R01",
        "plan_feature": "KDC-01",
        "master_feature": "*",
        "decision": "45/QĐ-UBND",
        "until": "",
        "basis": "Văn bản thẩm định",
        "note": "",
    }
    bad = api.client.post("/admin/exceptions", data={**fields, "rule_id": "", "until": "31/12/2026"})
    assert bad.status_code == 422 and 'class="error"' in bad.text and "rule_id" in bad.text
    assert 'value="31/12/2026"' in bad.text  # the values are kept to correct
    assert api.get("/api/v1/exceptions").json()["total"] == 0
    r = api.client.post("/admin/exceptions", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    kept = api.get("/api/v1/exceptions").json()["items"]
    assert [(e["rule_id"], e["plan_feature"], e["decision"]) for e in kept] == [("R01", "KDC-01", "45/QĐ-UBND")]
    again = api.client.post("/admin/exceptions", data=fields)
    assert again.status_code == 422 and api.get("/api/v1/exceptions").json()["total"] == 1  # one decision per finding
    check = api.post("/api/v1/checks", "planner", json={"plan_id": scene["plan"]}).json()
    assert api.wait(check["id"], "planner")["status"] == "successful"
    signin(api, "planner")
    html = api.client.get(f"/checks/{check['id']}").text
    totals = re.search(r'<table id="totals".*?</table>', html, re.S).group(0)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", totals, re.S)]
    assert cells[:3] == ["Xung đột", "3", "0,3300 ha"]
    excepted = [r for r in rows(html) if r[2][-1].startswith("Ngoại lệ")]
    assert len(excepted) == 1 and excepted[0][2][4] == "R01" and excepted[0][2][-1] == "Ngoại lệ: 45/QĐ-UBND"
