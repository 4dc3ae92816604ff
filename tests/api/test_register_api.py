"""The plan register in the service (CONTRACT §5, §7): register keys on plan records (upload
form, PATCH), GET /register with legal status by date and review status from each plan's latest
check, roles, validation and the migration of databases made before these columns existed.

Expected figures are worked out by hand from CONTRACT §7's rules and tests/geoms.py's scene."""

from __future__ import annotations

import io
import re
import unicodedata

import geopandas as gpd
import openpyxl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api import create_app
from api.register import today as vn_today
from tests import geoms

# The scene's open conflict rows under geoms.RULES_CSV, no communes (tests/geoms.py):
# P0 2500 m² on LUC (R01) + 2500 m² on RPH (R02), P1 90 m on RPH (R02), P5 800 m² on RPH (R02).
SCENE_CONFLICTS = {"conflicts": 4, "conflict_area_m2": 5800.0, "conflict_length_m": 90.0, "conflict_points": 0}


@pytest.fixture(scope="module")
def more_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("register")
    geoms.plan_frame().iloc[[3]].to_file(root / "consistent.gpkg")  # P3: ODT on ODT, compatible
    geoms.plan_frame().iloc[[1]].to_file(root / "line_only.gpkg")  # P1: a road, no polygon
    changed = geoms.master_frame()
    changed.loc[1, "MA_QH"] = "ODT"  # M1 no longer protection forest: a new master plan's content
    changed.to_file(root / "master_v2.gpkg")
    # The general plan of tests/test_parents.py: Z0 ODT [0,100]×[0,200], Z1 LUC [100,200]×[0,200].
    gpd.GeoDataFrame(
        {"ma": ["ODT", "LUC"], "ten": ["Khu đô thị trung tâm", "Vùng lúa phía đông"], "so_hieu": ["Z0", "Z1"]},
        geometry=[geoms.box(0, 0, 100, 200), geoms.box(100, 0, 200, 200)],
        crs=geoms.CRS,
    ).to_file(root / "general.gpkg")
    return root


def _plan(api, files, who="planner", name="QH thử", plan_type="urban_zoning", file="plan.gpkg", **fields):
    r = api.upload("plans", files / file, who, name=name, plan_type=plan_type, **fields)
    assert r.status_code == 201, r.text
    return r.json()


def _register(api, on, who="admin", **params):
    r = api.get("/api/v1/register", who, params={"on": on, **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["on"] == on
    return {row["id"]: row for row in body["plans"]}, body


def _check(api, plan_id, who="planner", **body):
    r = api.post("/api/v1/checks", who, json={"plan_id": plan_id, **body})
    assert r.status_code == 202, r.text
    done = api.wait(r.json()["id"], who)
    assert done["status"] == "successful", done
    return done


def test_upload_keeps_naming_and_register_keys_and_reports_name_the_plan(api, scene_files):
    r = api.upload("masters", scene_files / "master.gpkg", name="Quy hoạch tỉnh")
    assert r.status_code == 201, r.text
    plan = _plan(
        api,
        scene_files,
        name="Điều chỉnh QHC Rạch Giá",
        plan_type="urban_general",
        decision="1234/QĐ-UBND",
        approved="10/05/2019",
        authority="UBND tỉnh Kiên Giang",
        horizon="2030",
        integrated="true",
        review_due="30/06/2025",
        adjustments='[{"decision": "56/QĐ-UBND", "approved": "2021-03-04", "note": "điều chỉnh cục bộ"}]',
    )
    assert (plan["decision"], plan["approved"], plan["authority"]) == (
        "1234/QĐ-UBND",
        "2019-05-10",
        "UBND tỉnh Kiên Giang",
    )
    assert (plan["horizon"], plan["integrated"], plan["fixes_quantities"], plan["review_due"]) == (
        2030,
        True,
        False,
        "2025-06-30",
    )
    assert plan["adjustments"] == [{"decision": "56/QĐ-UBND", "approved": "2021-03-04", "note": "điều chỉnh cục bộ"}]
    assert plan["status"] is None and plan["parent"] is None and plan["superseded_by"] is None
    assert api.get(f"/api/v1/plans/{plan['id']}", "planner").json() == plan  # kept, not only echoed

    check = _check(api, plan["id"])
    html = api.get(f"/api/v1/checks/{check['id']}/report", "planner", params={"format": "html"}).text
    text = re.sub(r"<[^>]+>", " ", html)
    for shown in ("Điều chỉnh QHC Rạch Giá", "1234/QĐ-UBND", "10/05/2019", "UBND tỉnh Kiên Giang"):
        assert shown in text, shown
    xlsx = api.get(f"/api/v1/checks/{check['id']}/report", "planner", params={"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["Quy hoạch"]
    header = [c.value for c in sheet[1]]
    row = dict(zip(header, [c.value for c in sheet[2]]))
    assert row["Số quyết định"] == "1234/QĐ-UBND" and row["Cơ quan phê duyệt"] == "UBND tỉnh Kiên Giang"
    assert row["Ngày phê duyệt"].date().isoformat() == "2019-05-10"

    # An edit renames the plan in the report drawn next (the cached one is dropped).
    r = api.client.patch(f"/api/v1/plans/{plan['id']}", headers=api.h("planner"), json={"decision": "99/QĐ-UBND"})
    assert r.status_code == 200, r.text
    html = api.get(f"/api/v1/checks/{check['id']}/report", "planner", params={"format": "html"}).text
    assert "99/QĐ-UBND" in html and "1234/QĐ-UBND" not in html


def test_upload_with_bad_register_keys_lists_every_problem_and_keeps_nothing(api, scene_files):
    store = api.client.app.state.store
    r = api.upload(
        "plans",
        scene_files / "plan.gpkg",
        "planner",
        name="thử",
        plan_type="rural",
        approved="30/02/2021",
        horizon="sau 2030",
        integrated="có lẽ",
        status="in_force",
        parent="khong-co",
        adjustments="[{",
        review_due="2025-13-01",
    )
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert sorted(p.split(":")[0] for p in problems) == [
        "adjustments",
        "approved",
        "horizon",
        "integrated",
        "parent",
        "review_due",
        "status",
    ], problems
    assert r.json()["detail"].startswith("thông tin quy hoạch không hợp lệ / invalid plan keys: 7 lỗi / 7 problem(s)")
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM layers")).scalar_one() == 0
    assert not list((api.settings.data_dir / "layers").glob("*"))  # embedded: no layer folder either


def test_legal_status_on_both_sides_of_each_boundary(api, scene_files):
    """CONTRACT §7's order, dates worked out by hand: integrated plans expire on the master plan's
    approval (2023-11-03, the profile's); a horizon ends on 31 December; a successor counts from
    its approval; review is overdue from the day after review_due (default 2025-12-31)."""
    ids = {}
    ids["integrated"] = _plan(api, scene_files, decision="11/QĐ-UBND", approved="2019-05-10", integrated="true")["id"]
    ids["horizon"] = _plan(api, scene_files, decision="12/QĐ-UBND", approved="2016-01-20", horizon="2025")["id"]
    ids["new"] = _plan(api, scene_files, decision="13/QĐ-UBND", approved="2024-03-01")["id"]
    ids["old"] = _plan(api, scene_files, decision="14/QĐ-UBND", approved="2012-07-01", superseded_by=ids["new"])["id"]
    ids["quantities"] = _plan(
        api,
        scene_files,
        plan_type="sectoral_trade",
        decision="15/QĐ-UBND",
        approved="2017-09-09",
        fixes_quantities="true",
    )["id"]
    ids["draft"] = _plan(api, scene_files)["id"]
    ids["later"] = _plan(api, scene_files, decision="16/QĐ-UBND", approved="2025-04-15")["id"]

    def status(on):
        rows, _ = _register(api, on)
        return {k: (rows[i]["legal_status"], rows[i]["since"]) for k, i in ids.items()}

    before = status("2023-11-02")
    assert before["integrated"] == ("in_force", "2019-05-10")
    assert before["old"] == ("in_force", "2012-07-01")
    assert before["new"][0] == "draft" and before["later"][0] == "draft"  # not approved yet on that day
    assert before["quantities"][0] == "abolished"
    assert before["draft"] == ("draft", None)

    on_day = status("2023-11-03")
    assert on_day["integrated"] == ("expired", "2023-11-03")

    assert status("2024-02-29")["old"] == ("in_force", "2012-07-01")
    march = status("2024-03-01")
    assert march["old"] == ("superseded", "2024-03-01") and march["new"] == ("in_force", "2024-03-01")

    assert status("2025-04-14")["later"][0] == "draft"
    assert status("2025-04-15")["later"] == ("in_force", "2025-04-15")

    last_day = status("2025-12-31")
    assert last_day["horizon"] == ("in_force", "2016-01-20")
    next_day = status("2026-01-01")
    assert next_day["horizon"] == ("past_horizon", "2026-01-01")

    rows, body = _register(api, "2025-12-31")
    assert rows[ids["draft"]]["review_status"] == "not_checked" and rows[ids["draft"]]["overdue"] is False
    assert rows[ids["quantities"]]["review_status"] == "not_required"
    rows, body = _register(api, "2026-01-01")
    assert rows[ids["draft"]]["overdue"] is True and rows[ids["new"]]["overdue"] is True
    assert rows[ids["old"]]["overdue"] is False  # superseded: no review required
    # 7 plans on 2026-01-01: integrated expired, horizon past it, old superseded, quantities
    # abolished, draft draft, new and later in force (none checked: 3 overdue, 4 not required).
    assert body["counts"]["legal_status"] == {
        "abolished": 1,
        "superseded": 1,
        "expired": 1,
        "past_horizon": 1,
        "draft": 1,
        "in_force": 2,
    }
    assert body["counts"]["review_status"]["not_checked"] == 3 and body["counts"]["overdue"] == 3
    assert "Luật Quy hoạch" in rows[ids["integrated"]]["basis"]

    # The public list ready to announce, as files: the expired and the abolished plan, by decision.
    r = api.get("/api/v1/register", "viewer", params={"on": "2026-01-01", "format": "xlsx"})
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('register-2026-01-01.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(r.content))["Danh mục công bố"]
    header = [c.value for c in sheet[1]]
    listed = sorted(
        (row[header.index("Số quyết định")], row[header.index("Tình trạng pháp lý")])
        for row in sheet.iter_rows(min_row=2, values_only=True)
    )
    assert listed == [("11/QĐ-UBND", "Hết hiệu lực"), ("15/QĐ-UBND", "Bãi bỏ")]
    pypdf = pytest.importorskip("pypdf")
    r = api.get("/api/v1/register", "viewer", params={"on": "2026-01-01", "format": "pdf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = unicodedata.normalize(
        "NFC", " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(r.content)).pages)
    )
    compact = re.sub(r"\s+", "", text)  # table cells wrap at the hyphen: "15/QĐ-\nUBND"
    assert "11/QĐ-UBND" in compact and "15/QĐ-UBND" in compact and "Hết hiệu lực" in text
    r = api.get("/api/v1/register", "viewer", params={"on": "2026-01-01", "format": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and "15/QĐ-UBND" in r.text
    assert api.get("/api/v1/register", "viewer", params={"format": "docx"}).status_code == 422


def test_review_status_from_latest_check_and_outdated_by_a_new_master(api, scene, scene_files, more_files):
    clean = _plan(api, more_files, file="consistent.gpkg", decision="20/QĐ-UBND", approved="2020-02-02")["id"]
    _check(api, scene["plan"])
    _check(api, clean)
    rows, body = _register(api, "2025-12-31", "planner")
    scene_row = rows[scene["plan"]]
    assert scene_row["review_status"] == "needs_adjustment"
    assert {k: scene_row[k] for k in SCENE_CONFLICTS} == SCENE_CONFLICTS
    assert scene_row["overdue"] is False
    assert rows[clean]["review_status"] == "consistent" and rows[clean]["conflicts"] == 0
    assert _register(api, "2026-01-01", "planner")[0][scene["plan"]]["overdue"] is True  # after review_due
    assert _register(api, "2026-01-01", "planner")[0][clean]["overdue"] is False  # consistent: never overdue

    # The same master file uploaded again: same content, nothing outdated.
    assert api.upload("masters", scene_files / "master.gpkg", name="lại").status_code == 201
    assert _register(api, "2025-12-31", "planner")[0][scene["plan"]]["review_status"] == "needs_adjustment"
    # A master plan with other content: every check made before it is outdated, and says why.
    assert api.upload("masters", more_files / "master_v2.gpkg", name="mới").status_code == 201
    rows, _ = _register(api, "2025-12-31", "planner")
    assert rows[scene["plan"]]["review_status"] == "outdated"
    assert "quy hoạch tỉnh" in rows[scene["plan"]]["review_reason"]
    # Checked again against it: M1 is ODT now, so R02 (RPH) matches nothing; only P0 on LUC
    # (2500 m², R01) is left open.
    _check(api, scene["plan"])
    row = _register(api, "2025-12-31", "planner")[0][scene["plan"]]
    assert (row["review_status"], row["conflicts"], row["conflict_area_m2"], row["conflict_length_m"]) == (
        "needs_adjustment",
        1,
        2500.0,
        0.0,
    )


def test_register_shows_each_caller_the_plans_they_may_see(api, scene_files):
    mine = _plan(api, scene_files, "planner")["id"]
    theirs = _plan(api, scene_files, "planner2")["id"]
    assert set(_register(api, "2025-01-01", "planner")[0]) == {mine}
    assert set(_register(api, "2025-01-01", "planner2")[0]) == {theirs}
    assert set(_register(api, "2025-01-01", "viewer")[0]) == {mine, theirs}
    _, body = _register(api, "2025-01-01", "planner")
    assert body["counts"]["legal_status"]["draft"] == 1  # counts of what the caller sees
    # Another planner's plan cannot be named: it does not exist for this caller.
    r = api.upload("plans", scene_files / "plan.gpkg", "planner", name="x", plan_type="rural", parent=theirs)
    assert r.status_code == 422 and r.json()["problems"] == [f"parent: no plan with id {theirs!r}"]
    assert api.client.get("/api/v1/register").status_code == 401


@pytest.mark.parametrize("on", ["2025-02-30", "31/12/2025", "2025-1-1", "hôm nay"])
def test_register_bad_date_is_422(api, on):
    r = api.get("/api/v1/register", "viewer", params={"on": on})
    assert r.status_code == 422 and "YYYY-MM-DD" in r.json()["detail"]


def test_patch_roles_validation_and_the_register_answer(api, scene, scene_files, more_files):
    plan = scene["plan"]
    patch = api.client.patch
    assert patch(f"/api/v1/plans/{plan}", headers=api.h("viewer"), json={"horizon": 2030}).status_code == 403
    assert patch(f"/api/v1/plans/{plan}", headers=api.h("planner2"), json={"horizon": 2030}).status_code == 404
    assert patch("/api/v1/plans/khong-co", headers=api.h("admin"), json={"horizon": 2030}).status_code == 404
    assert patch(f"/api/v1/plans/{plan}", json={"horizon": 2030}).status_code == 401

    rows, _ = _register(api, "2024-06-01")
    assert rows[plan]["legal_status"] == "draft"  # uploaded without a decision
    r = patch(
        f"/api/v1/plans/{plan}",
        headers=api.h("planner"),
        json={"decision": "1234/QĐ-UBND", "approved": "2019-05-10", "authority": "UBND tỉnh", "horizon": 2020},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["decision"], r.json()["horizon"]) == ("1234/QĐ-UBND", 2020)
    rows, _ = _register(api, "2024-06-01")
    assert (rows[plan]["legal_status"], rows[plan]["since"]) == ("past_horizon", "2021-01-01")
    assert rows[plan]["review_status"] == "not_required"
    r = patch(f"/api/v1/plans/{plan}", headers=api.h("admin"), json={"horizon": None})  # null: back to none
    assert r.status_code == 200 and r.json()["horizon"] is None
    assert _register(api, "2024-06-01")[0][plan]["legal_status"] == "in_force"

    # Every problem at once: unknown key, bad date, unknown successor, the plan naming itself.
    r = patch(
        f"/api/v1/plans/{plan}",
        headers=api.h("planner"),
        json={"code_field": "ma", "approved": "2019-02-30", "superseded_by": "khong-co", "parent": plan},
    )
    assert r.status_code == 422, r.text
    assert sorted(p.split(":")[0] for p in r.json()["problems"]) == [
        "approved",
        "code_field",
        "parent",
        "superseded_by",
    ]
    r = patch(f"/api/v1/plans/{plan}", headers=api.h("planner"), json={"name": " ", "plan_type": "industrial"})
    assert r.status_code == 422 and sorted(p.split(":")[0] for p in r.json()["problems"]) == ["name", "plan_type"]
    assert api.get(f"/api/v1/plans/{plan}", "planner").json()["approved"] == "2019-05-10"  # unchanged

    # A cycle of parents is refused; naming a parent makes the last check outdated.
    child = _plan(api, scene_files, "planner", parent=plan)["id"]
    r = patch(f"/api/v1/plans/{plan}", headers=api.h("planner"), json={"parent": child})
    assert (
        r.status_code == 422
        and r.json()["problems"] == [f"parents form a cycle ({plan} -> {child} -> {plan})"]
        or r.json()["problems"] == [f"parents form a cycle ({child} -> {plan} -> {child})"]
    ), r.text
    _check(api, child)
    assert _register(api, "2024-06-01")[0][child]["review_status"] == "needs_adjustment"
    # (another file: a parent with the same content would be the same parent to the check)
    other = _plan(api, more_files, "planner", file="consistent.gpkg", decision="3/QĐ-UBND", approved="2018-01-01")["id"]
    assert patch(f"/api/v1/plans/{child}", headers=api.h("planner"), json={"parent": other}).status_code == 200
    row = _register(api, "2024-06-01")[0][child]
    assert row["review_status"] == "outdated" and "quy hoạch cấp trên" in row["review_reason"]
    # Text typed as NFD (macOS) is kept as NFC, as uploads' form fields are.
    nfd = unicodedata.normalize("NFD", "Quyết định điều chỉnh 5/QĐ-UBND")
    r = patch(
        f"/api/v1/plans/{plan}",
        headers=api.h("planner"),
        json={
            "decision": nfd,
            "adjustments": [
                {"decision": nfd, "approved": "2022-02-02", "note": unicodedata.normalize("NFD", "điều chỉnh")}
            ],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "Quyết định điều chỉnh 5/QĐ-UBND" != nfd
    assert r.json()["adjustments"][0]["note"] == "điều chỉnh"
    # A body that is not a JSON object is the client's mistake.
    assert patch(f"/api/v1/plans/{plan}", headers=api.h("planner"), json=[1, 2]).status_code == 422
    # Flags take JSON booleans only: "yes" or 1 is refused, listing each, and nothing changes.
    r = patch(f"/api/v1/plans/{plan}", headers=api.h("planner"), json={"integrated": "yes", "fixes_quantities": 1})
    assert r.status_code == 422, r.text
    assert sorted(p.split(":")[0] for p in r.json()["problems"]) == ["fixes_quantities", "integrated"]
    assert (
        "'yes' không phải true hay false / is not a JSON boolean" in r.json()["problems"][0] + r.json()["problems"][1]
    )
    assert api.get(f"/api/v1/plans/{plan}", "planner").json()["integrated"] is False
    r = patch(f"/api/v1/plans/{plan}", headers=api.h("planner"), json={"integrated": True})
    assert r.status_code == 200 and r.json()["integrated"] is True


def test_deleting_a_plan_clears_the_links_that_name_it(api, scene_files):
    new = _plan(api, scene_files, decision="1/QĐ", approved="2024-01-01")["id"]
    old = _plan(api, scene_files, decision="2/QĐ", approved="2010-01-01", superseded_by=new)["id"]
    assert _register(api, "2024-06-01")[0][old]["legal_status"] == "superseded"
    assert api.delete(f"/api/v1/plans/{new}", "planner").status_code == 204
    assert api.get(f"/api/v1/plans/{old}", "planner").json()["superseded_by"] is None
    assert _register(api, "2024-06-01")[0][old]["legal_status"] == "in_force"


def _drop_new_columns(store) -> None:
    """The tables as the release before the register made them."""
    with store.engine.begin() as conn:
        for column in ("decision", "approved", "authority", "register_keys"):
            conn.execute(sa.text(f'ALTER TABLE layers DROP COLUMN "{column}"'))
        conn.execute(sa.text('ALTER TABLE checks DROP COLUMN "inputs"'))
        conn.execute(sa.text("DROP TABLE exceptions"))
        # The upload's plan type rule was looser then than the registry's (sectoral_<digits>).
        conn.execute(sa.text("UPDATE layers SET plan_type = 'sectoral_1' WHERE kind = 'plan'"))


def test_a_database_made_before_the_register_opens_and_keeps_its_data(make_settings, scene_files):
    settings = make_settings()
    app = create_app(settings)
    with TestClient(app) as client:
        store = app.state.store
        key = store.create_key("admin", "admin")[1]
        h = {"Authorization": f"Bearer {key}"}
        for route, name, extra in (("masters", "master.gpkg", {}), ("plans", "plan.gpkg", {"plan_type": "rural"})):
            with open(scene_files / name, "rb") as f:
                r = client.post(f"/api/v1/{route}", headers=h, files={"file": (name, f)}, data={"name": "cũ", **extra})
            assert r.status_code == 201, r.text
        plan = r.json()["id"]
        r = client.post("/api/v1/checks", headers=h, json={"plan_id": plan})
        check = r.json()["id"]
        for _ in range(600):
            if client.get(f"/api/v1/checks/{check}", headers=h).json()["status"] == "successful":
                break
            import time

            time.sleep(0.05)
        _drop_new_columns(store)
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns("layers")}
        assert "register_keys" not in columns

    app = create_app(settings)
    with TestClient(app) as client:
        store = app.state.store
        assert {"decision", "approved", "authority", "register_keys"} <= {
            c["name"] for c in sa.inspect(store.engine).get_columns("layers")
        }
        assert "inputs" in {c["name"] for c in sa.inspect(store.engine).get_columns("checks")}
        record = client.get(f"/api/v1/plans/{plan}", headers=h).json()
        assert (record["name"], record["feature_count"], record["decision"], record["integrated"]) == (
            "cũ",
            6,
            None,
            False,
        )
        assert client.get(f"/api/v1/checks/{check}", headers=h).json()["summary"]["totals"]["conflict_pieces"] > 0
        body = client.get("/api/v1/register", headers=h, params={"on": "2025-01-01"}).json()
        # A check made before inputs were recorded cannot say it is current.
        assert [(p["id"], p["type"], p["legal_status"], p["review_status"]) for p in body["plans"]] == [
            (plan, "sectoral_1", "draft", "outdated")
        ]
        r = client.patch(
            f"/api/v1/plans/{plan}",
            headers=h,
            json={"decision": "7/QĐ-UBND", "approved": "2020-01-01", "plan_type": "sectoral_energy"},
        )
        assert r.status_code == 200 and r.json()["decision"] == "7/QĐ-UBND"


# ---------------------------------------------------------------------------------- exceptions
def _exception(plan, **extra):
    return {
        "plan_id": plan,
        "rule_id": "R02",
        "plan_feature": "KDC-01",
        "master_feature": "*",
        "decision": "123/QĐ-UBND",
        "basis": "Điều 5 Quyết định 123/QĐ-UBND",
        "note": "chấp thuận",
        **extra,
    }


def test_exceptions_roles_and_validation(api, scene):
    plan = scene["plan"]
    assert api.client.post("/api/v1/exceptions", json=_exception(plan)).status_code == 401
    for who in ("planner", "viewer"):
        assert api.post("/api/v1/exceptions", who, json=_exception(plan)).status_code == 403
    # Every problem of every row at once; nothing kept.
    r = api.post(
        "/api/v1/exceptions",
        json=[
            _exception(plan, decision=""),
            _exception("khong-co", rule_id="R01"),
            _exception(plan, plan_feature="*", until="31/02/2026"),
            _exception(plan, colour="đỏ"),
        ],
    )
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert len(problems) == 5, problems
    assert any(p.startswith("row 1, decision") for p in problems)
    assert "row 2, plan_id: không có quy hoạch / no plan with id 'khong-co'" in problems
    assert any(p.startswith("row 3, plan_feature") for p in problems) and any(
        p.startswith("row 3, until") for p in problems
    )
    assert any(p.startswith("row 4:") and "colour" in p for p in problems)
    assert r.json()["detail"].startswith("ngoại lệ không hợp lệ / invalid exceptions: 5 lỗi / 5 problem(s)")
    assert api.get("/api/v1/exceptions").json() == {"items": [], "total": 0}
    assert api.post("/api/v1/exceptions", json=[]).status_code == 422

    r = api.post(
        "/api/v1/exceptions", json=_exception(plan, until="2030-12-31", note=unicodedata.normalize("NFD", "chấp thuận"))
    )
    assert r.status_code == 201, r.text
    kept = r.json()
    assert {k: kept[k] for k in ("plan_id", "rule_id", "plan_feature", "master_feature", "decision", "until")} == {
        "plan_id": plan,
        "rule_id": "R02",
        "plan_feature": "KDC-01",
        "master_feature": "*",
        "decision": "123/QĐ-UBND",
        "until": "2030-12-31",
    }
    assert kept["note"] == "chấp thuận"  # NFC, as sent in NFD
    r = api.post("/api/v1/exceptions", json=_exception(plan))  # the same finding again
    assert r.status_code == 422 and kept["id"] in r.json()["problems"][0]
    for bad, said in (
        (b"{", "không phải JSON / the body is not JSON"),
        (b'"R02"', "gửi một ngoại lệ hoặc một danh sách"),
    ):
        r = api.client.post(
            "/api/v1/exceptions", content=bad, headers={**api.h("admin"), "Content-Type": "application/json"}
        )
        assert r.status_code == 422 and r.json()["detail"].startswith(said), r.text
    # Planners read the exceptions of their own plans only.
    assert api.get("/api/v1/exceptions", "planner").json()["total"] == 1
    assert api.get("/api/v1/exceptions", "planner2").json() == {"items": [], "total": 0}
    assert api.get("/api/v1/exceptions", "viewer", params={"plan_id": plan}).json()["items"] == [kept]
    assert api.get("/api/v1/exceptions", "viewer", params={"plan_id": "khac"}).json()["total"] == 0
    assert api.delete(f"/api/v1/exceptions/{kept['id']}", "planner").status_code == 403
    assert api.delete("/api/v1/exceptions/khong-co").status_code == 404
    assert api.delete(f"/api/v1/exceptions/{kept['id']}").status_code == 204
    assert api.get("/api/v1/exceptions").json()["total"] == 0


def test_checks_apply_exceptions_and_the_register_follows(api, scene):
    plan = scene["plan"]
    _check(api, plan)
    assert _register(api, "2026-06-01", "planner")[0][plan]["review_status"] == "needs_adjustment"
    r = api.post("/api/v1/exceptions", json=_exception(plan))
    assert r.status_code == 201, r.text
    # An exception accepted after the check: the check no longer says what is open.
    row = _register(api, "2026-06-01", "planner")[0][plan]
    assert row["review_status"] == "outdated" and "ngoại lệ" in row["review_reason"]

    done = _check(api, plan)
    # P0 (KDC-01) on RPH under R02 is excepted (2500 m²); open: P0 on LUC 2500 m², P1 90 m, P5 800 m².
    totals = done["summary"]["totals"]
    assert (totals["conflict_pieces"], totals["conflict_area_m2"], totals["conflict_length_m"]) == (3, 3300.0, 90.0)
    assert (totals["excepted_pieces"], totals["excepted_area_m2"]) == (1, 2500.0)
    fc = api.get(f"/api/v1/checks/{done['id']}/conflicts", "planner").json()
    review = {
        (f["properties"]["plan_feature"], f["properties"]["rule_id"]): (
            f["properties"]["review"],
            f["properties"]["review_decision"],
        )
        for f in fc["features"]
    }
    assert review[("KDC-01", "R02")] == ("excepted", "123/QĐ-UBND")
    assert review[("KDC-01", "R01")] == ("open", "") and review[("CCN-1", "R02")] == ("open", "")
    row = _register(api, "2026-06-01", "planner")[0][plan]
    assert (row["review_status"], row["conflicts"], row["conflict_area_m2"], row["conflict_length_m"]) == (
        "needs_adjustment",
        3,
        3300.0,
        90.0,
    )
    html = api.get(f"/api/v1/checks/{done['id']}/report", "planner", params={"format": "html"}).text
    assert "123/QĐ-UBND" in html


def test_an_expired_exception_leaves_rows_open_with_a_warning(api, scene):
    plan = scene["plan"]
    assert api.post("/api/v1/exceptions", json=_exception(plan, until="2020-01-01")).status_code == 201
    done = _check(api, plan)
    assert done["summary"]["totals"]["conflict_pieces"] == 4 and done["summary"]["totals"]["excepted_pieces"] == 0
    assert any("2020-01-01" in w for w in done["summary"]["warnings"])
    # The check judged it on its own day (today, after 2020-01-01): expired, as on any later day.
    row = _register(api, vn_today().isoformat(), "planner")[0][plan]
    assert (row["review_status"], row["conflicts"]) == ("needs_adjustment", 4)
    # On a day it still ran, this check (which judged it expired) is not that day's answer.
    assert _register(api, "2019-12-31", "planner")[0][plan]["review_status"] == "outdated"
    # Deleting the plan deletes its exceptions.
    assert api.delete(f"/api/v1/plans/{plan}", "planner").status_code == 204
    assert api.get("/api/v1/exceptions").json()["total"] == 0


def test_a_plan_with_a_parent_is_checked_against_it_too(api, scene, more_files):
    """Hand figures of tests/test_parents.py: against Z0 ODT | Z1 LUC the scene's plan adds P0 on
    Z1 under R01 (50×50 = 2500 m², conflict) and P1's 90 m on Z1 under R03 (conditional), so
    4 + 1 = 5 open conflict rows and 5800 + 2500 = 8300 m² with the master's."""
    general = _plan(
        api,
        more_files,
        "planner",
        name="Quy hoạch chung cấp trên",
        plan_type="urban_general",
        file="general.gpkg",
        id_field="so_hieu",
        decision="1/QĐ-UBND",
        approved="2015-01-01",
    )["id"]
    plan = scene["plan"]
    r = api.client.patch(f"/api/v1/plans/{plan}", headers=api.h("planner"), json={"parent": general})
    assert r.status_code == 200, r.text
    done = _check(api, plan)
    totals = done["summary"]["totals"]
    assert (totals["conflict_pieces"], totals["conflict_area_m2"], totals["conflict_length_m"]) == (5, 8300.0, 90.0)
    fc = api.get(f"/api/v1/checks/{done['id']}/conflicts", "planner", params={"rule_id": "R01"}).json()
    against = sorted(
        (f["properties"]["against"], f["properties"]["master_feature"], f["properties"]["area_m2"])
        for f in fc["features"]
    )
    assert against == [(general, "Z1", 2500.0), ("master", "0", 2500.0)]
    row = _register(api, "2025-06-01", "planner")[0][plan]
    assert (row["review_status"], row["conflicts"], row["conflict_area_m2"]) == ("needs_adjustment", 5, 8300.0)
    html = api.get(f"/api/v1/checks/{done['id']}/map", "planner").text
    assert "Quy hoạch chung cấp trên" in html  # popups of rows against the parent name it


def test_a_failed_check_is_the_register_s_failed_with_its_reason(api, scene, more_files):
    """A parent with no zone cannot be checked against (kgspatial.check.parent_context): the
    check fails, and the register says failed with that reason, overdue after review_due."""
    store = api.client.app.state.store
    lines = _plan(
        api, more_files, "planner", name="Tuyến đường", plan_type="technical_transport", file="line_only.gpkg"
    )["id"]
    plan = scene["plan"]
    assert (
        api.client.patch(
            f"/api/v1/plans/{plan}", headers=api.h("planner"), json={"parent": lines, "review_due": "2025-09-30"}
        ).status_code
        == 200
    )
    r = api.post("/api/v1/checks", "planner", json={"plan_id": plan})
    done = api.wait(r.json()["id"], "planner")
    assert done["status"] == "failed" and "no zone" in done["reason"]
    assert "/" + str(store.data_dir) not in done["reason"] and f"plan {lines}" in done["reason"]
    row = _register(api, "2025-09-30", "planner")[0][plan]
    assert (row["review_status"], row["overdue"], row["conflicts"]) == ("failed", False, None)
    assert "no zone" in row["review_reason"]
    row = _register(api, "2025-10-01", "planner", english="true")[0][plan]
    assert (row["review_status"], row["overdue"]) == ("failed", True)
    assert (row["legal_status"], row["basis"]) == ("draft", "not approved")  # ?english=true: the English basis
    assert _register(api, "2025-10-01", "planner")[0][plan]["basis"] == "Chưa được phê duyệt"


def test_exceptions_as_a_csv_file_from_a_form_or_a_spreadsheet(api, scene, scene_files):
    """exceptions.csv as `kgspatial check --exceptions` reads it, sent as the multipart field
    `file`: every problem of the file at once (its row numbers), unknown plans too."""
    plan = scene["plan"]
    header = "plan_id,rule_id,plan_feature,master_feature,decision,until,basis,note\n"
    bad = header + f"{plan},R02,KDC-01,*,,,,\nkhong-co,R01,KDC-01,0,5/QĐ-UBND,,,\n"
    r = api.post("/api/v1/exceptions", files={"file": ("ngoai_le.csv", bad.encode("utf-8"))})
    assert r.status_code == 422, r.text
    assert r.json()["problems"] == ["row 2, decision: trống / empty"]  # the file's own problems first
    good = header + f"{plan},R02,KDC-01,*,123/QĐ-UBND,31/12/2030,Điều 5,chấp thuận\n"
    r = api.post("/api/v1/exceptions", files={"file": ("ngoai_le.csv", good.encode("utf-8"))})
    assert r.status_code == 201, r.text
    assert [(e["plan_id"], e["until"], e["basis"]) for e in r.json()["items"]] == [(plan, "2030-12-31", "Điều 5")]
    r = api.post(
        "/api/v1/exceptions", files={"file": ("ngoai_le.csv", (header + "khong-co,R01,X,*,1/QĐ,,,\n").encode())}
    )
    assert r.status_code == 422 and r.json()["problems"] == [
        "khong-co / R01 / X / * (1/QĐ), plan_id: không có quy hoạch / no plan with id 'khong-co'"
    ]
    r = api.post("/api/v1/exceptions", "planner", files={"file": ("ngoai_le.csv", good.encode("utf-8"))})
    assert r.status_code == 403
    done = _check(api, plan)
    assert done["summary"]["totals"]["conflict_area_m2"] == 3300.0  # 5800 less KDC-01's 2500 m² on RPH


def test_an_exception_accepts_master_rows_unless_it_names_the_parent(api, scene, more_files):
    """CONTRACT §7 + §10 in the service: with the general plan as parent, KDC-01 has R01 rows
    against the master (M0, 2500 m²) and against the parent (Z1, 2500 m²). `*` with no `against`
    accepts the master's only: open 5 - 1 = 4 rows, 8300 - 2500 = 5800 m²; with against=the
    parent the parent's only (again 4 rows, 5800 m²); a plan that is not its parent is a 422."""
    general = _plan(
        api,
        more_files,
        "planner",
        name="Quy hoạch chung cấp trên",
        plan_type="urban_general",
        file="general.gpkg",
        id_field="so_hieu",
        decision="1/QĐ-UBND",
        approved="2015-01-01",
    )["id"]
    plan = scene["plan"]
    assert (
        api.client.patch(f"/api/v1/plans/{plan}", headers=api.h("planner"), json={"parent": general}).status_code == 200
    )
    r = api.post("/api/v1/exceptions", json=_exception(plan, rule_id="R01", against=scene["master"]))
    assert r.status_code == 422 and "against" in r.json()["problems"][0], r.text
    r = api.post("/api/v1/exceptions", json=_exception(plan, rule_id="R01"))
    assert r.status_code == 201 and r.json()["against"] == "master", r.text

    def review():
        done = _check(api, plan)
        fc = api.get(f"/api/v1/checks/{done['id']}/conflicts", "planner", params={"rule_id": "R01"}).json()
        totals = done["summary"]["totals"]
        return (
            {f["properties"]["against"]: f["properties"]["review"] for f in fc["features"]},
            (totals["conflict_pieces"], totals["conflict_area_m2"]),
        )

    assert review() == ({"master": "excepted", general: "open"}, (4, 5800.0))
    assert api.delete(f"/api/v1/exceptions/{r.json()['id']}").status_code == 204
    r = api.post("/api/v1/exceptions", json=_exception(plan, rule_id="R01", master_feature="Z1", against=general))
    assert r.status_code == 201 and r.json()["against"] == general, r.text
    assert review() == ({"master": "open", general: "excepted"}, (4, 5800.0))


def test_exceptions_never_show_a_masked_master_feature_to_non_admins(api, scene_files, tmp_path):
    """CONTRACT §5: a master zone of defence land (CQP, id SECRETZONE) named by an exception that
    expired (until 2020-01-01) and by one that matches nothing (SECRET2): viewers and planners see
    neither id in the check, its report or GET /exceptions; the admin's list keeps them, and the
    warnings name each exception by its id and decision."""
    master = geoms.master_frame()
    master["MA_QH"] = ["LUC", "CQP", "ODT"]
    master["MA_VUNG"] = ["M0", "SECRETZONE", "M2"]
    master.to_file(tmp_path / "master_cqp.gpkg")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV.replace("R02,*,RPH", "R02,*,CQP"), encoding="utf-8")
    assert (
        api.upload(
            "masters", tmp_path / "master_cqp.gpkg", name="M", code_field="MA_QH", label_field="TEN", id_field="MA_VUNG"
        ).status_code
        == 201
    )
    assert api.upload("rules", tmp_path / "rules.csv", name="R").status_code == 201
    plan = _plan(api, scene_files, "planner", id_field="so_hieu")["id"]
    r = api.post(
        "/api/v1/exceptions",
        json=[
            _exception(plan, master_feature="SECRETZONE", decision="7/QĐ", until="2020-01-01"),
            _exception(plan, master_feature="SECRET2", decision="8/QĐ"),
        ],
    )
    assert r.status_code == 201, r.text
    ids = [e["id"] for e in r.json()["items"]]
    done = _check(api, plan)
    warnings = [w for w in done["summary"]["warnings"] if "ngoại lệ" in w]
    assert len(warnings) == 2
    assert f"{ids[0]} (7/QĐ)" in warnings[0] and f"{ids[1]} (8/QĐ)" in warnings[1]
    for who in ("viewer", "planner"):
        for url in (
            f"/api/v1/checks/{done['id']}",
            f"/api/v1/checks/{done['id']}/report?format=html",
            f"/api/v1/checks/{done['id']}/conflicts",
            "/api/v1/exceptions",
        ):
            text = api.get(url, who).text
            assert "SECRET" not in text, (who, url)
        listed = api.get("/api/v1/exceptions", who).json()["items"]
        assert [(e["master_feature"], e["withheld"]) for e in listed] == [(None, True), (None, True)]
    listed = api.get("/api/v1/exceptions", "admin").json()["items"]
    assert [e["master_feature"] for e in listed] == ["SECRETZONE", "SECRET2"] and "withheld" not in listed[0]


def test_exceptions_kept_before_the_against_column_accept_master_rows(make_settings, scene_files):
    """A database whose exceptions table predates `against` gains the column when opened; its
    exceptions (against empty) read as `master` and keep excepting the master's rows: KDC-01 on
    RPH under R02, 2500 m², so 3 open rows and 3300 m² of the scene's 4 and 5800 m²."""
    settings = make_settings()
    app = create_app(settings)
    with TestClient(app) as client:
        store = app.state.store
        h = {"Authorization": f"Bearer {store.create_key('admin', 'admin')[1]}"}
        for route, name, extra in (
            ("masters", "master.gpkg", {}),
            ("rules", "rules.csv", {}),
            ("plans", "plan.gpkg", {"plan_type": "rural", "id_field": "so_hieu"}),
        ):
            with open(scene_files / name, "rb") as f:
                r = client.post(f"/api/v1/{route}", headers=h, files={"file": (name, f)}, data={"name": "cũ", **extra})
            assert r.status_code == 201, r.text
        plan = r.json()["id"]
        assert client.post("/api/v1/exceptions", headers=h, json=_exception(plan)).status_code == 201
        with store.engine.begin() as conn:
            conn.execute(sa.text('ALTER TABLE exceptions DROP COLUMN "against"'))
    app = create_app(settings)
    with TestClient(app) as client:
        (kept,) = client.get("/api/v1/exceptions", headers=h).json()["items"]
        assert kept["against"] == "master"
        check = client.post("/api/v1/checks", headers=h, json={"plan_id": plan}).json()["id"]
        import time

        for _ in range(600):
            body = client.get(f"/api/v1/checks/{check}", headers=h).json()
            if body["status"] in ("successful", "failed"):
                break
            time.sleep(0.05)
        totals = body["summary"]["totals"]
        assert (totals["conflict_pieces"], totals["conflict_area_m2"], totals["excepted_pieces"]) == (3, 3300.0, 1)
