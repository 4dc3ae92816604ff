"""Plans checked against their parent plan too (CONTRACT §7), figures worked out by hand.

The scene of tests/geoms.py, with a general plan `qhc` over the same 200 × 200 m square:
    Z0 ODT [0,100]×[0,200]      Z1 LUC [100,200]×[0,200]
and the zoning plan `qhpk` (the geoms plan) naming it as parent. Against the parent, under the
scene's rules:
    P0 ODT [50,150]×[25,75]: x 50..100 on Z0 (same code), x 100..150 on Z1: R01 conflict 50×50 = 2500 m²
    P1 DGT (10,50)-(190,50): 90 m on Z0 (DGT/ODT: no rule, unreviewed), 90 m on Z1: R03 conditional
    P2 DNL point (150,50) on Z1: R05 compatible
    P3 ODT on Z0: same code;  P4 TMD [120,180]×[120,180] on Z1: TMD/LUC unreviewed, 3600 m²
    P5 SKK [150,80]×[190,120] on Z1: SKK/LUC unreviewed, 40×40 = 1600 m²
Against the master the plan has its usual 5800 m² and 90 m of conflict (tests/test_batch.py), so
qhpk has 5800 + 2500 = 8300 m² of conflict in 4 + 1 = 5 rows.
The general plan against the master: Z0 on M0 LUC is R01, 100×100 = 10000 m²; Z1 on M1 RPH is
R02, 10000 m²; Z1 on M2 ODT has no rule (unreviewed, 10000 m²): 20000 m² in 2 rows.
"""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import pyogrio
import pytest

from kgspatial.register import build_register, results_from_batch_dir
from kgspatial.registry import load_registry
from tests import geoms
from tests.test_batch import _plan, _run, _write_registry


def general_plan() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"ma": ["ODT", "LUC"], "ten": ["Khu đô thị trung tâm", "Vùng lúa phía đông"], "so_hieu": ["Z0", "Z1"]},
        geometry=[geoms.box(0, 0, 100, 200), geoms.box(100, 0, 200, 200)],
        crs=geoms.CRS,
    )


@pytest.fixture()
def scene(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    geoms.master_frame().to_file(data / "master.gpkg")
    (data / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    geoms.plan_frame().to_file(data / "qhpk.gpkg")
    general_plan().to_file(data / "qhc.gpkg")
    registry = _write_registry(
        data,
        [
            _plan("qhc", "qhc.gpkg"),
            _plan("qhpk", "qhpk.gpkg", type_="urban_zoning", parent="qhc"),
        ],
    )
    return data, registry


def _rows(frame) -> set[tuple]:
    return {
        (r.against, r.plan_feature, r.master_feature, r.rule_id, r.verdict, round(r.area_m2, 6), round(r.length_m, 6))
        for r in frame.itertuples()
    }


def test_a_zoning_plan_is_checked_against_its_general_plan(scene, tmp_path):
    data, registry = scene
    result = _run(registry, tmp_path / "out", jobs=2, exact_unreviewed=True)  # the areas of the no-rule pairs below
    qhc, qhpk = result.plans
    assert qhc.status == qhpk.status == "checked"
    parent_rows = qhpk.conflicts[qhpk.conflicts["against"] == "qhc"]
    assert _rows(parent_rows) == {
        ("qhc", "KDC-01", "Z1", "R01", "conflict", 2500.0, 0.0),
        ("qhc", "DT963", "Z1", "R03", "conditional", 0.0, 90.0),
    }
    assert set(parent_rows["master_code"]) == {"LUC"} and set(parent_rows["master_label"]) == {"Vùng lúa phía đông"}
    assert (qhpk.conflicts["against"] == "master").sum() == 6  # the usual rows, unchanged
    assert qhpk.conflicts["conflict_id"].is_unique
    # The general plan itself has no parent: only the master.
    assert _rows(qhc.conflicts) == {
        ("master", "Z0", "0", "R01", "conflict", 10000.0, 0.0),
        ("master", "Z1", "1", "R02", "conflict", 10000.0, 0.0),
    }
    by_plan = {r["plan_id"]: r for r in result.summary["by_plan"]}
    assert by_plan["qhpk"]["conflict_area_m2"] == pytest.approx(8300.0)
    assert by_plan["qhpk"]["conflicts"] == 5
    assert by_plan["qhc"]["conflict_area_m2"] == pytest.approx(20000.0)
    unreviewed = {
        (u["plan_id"], u.get("against", "master"), u["plan_code"], u["master_code"]): (u["area_m2"], u["length_m"])
        for u in result.summary["unreviewed"]
    }
    assert unreviewed[("qhpk", "qhc", "DGT", "ODT")] == (0.0, pytest.approx(90.0))
    assert unreviewed[("qhpk", "qhc", "TMD", "LUC")] == (pytest.approx(3600.0), 0.0)
    assert unreviewed[("qhpk", "qhc", "SKK", "LUC")] == (pytest.approx(1600.0), 0.0)
    assert unreviewed[("qhc", "master", "LUC", "ODT")] == (pytest.approx(10000.0), 0.0)
    # The register counts both: 5 conflict rows, 8300 m².
    register = {r["id"]: r for r in result.register["plans"]}
    assert register["qhpk"]["conflicts"] == 5 and register["qhpk"]["conflict_area_m2"] == pytest.approx(8300.0)
    assert register["qhpk"]["review_status"] == "needs_adjustment"
    # conflicts.gpkg carries `against`
    written = pyogrio.read_dataframe(tmp_path / "out" / "qhpk" / "conflicts.gpkg")
    assert sorted(written["against"].value_counts().items()) == [("master", 6), ("qhc", 2)]


def test_reports_show_rows_against_the_parent_apart(scene, tmp_path):
    from kgspatial.batch import BatchOptions, run_batch

    data, registry = scene
    run_batch(BatchOptions(registry=registry, out=tmp_path / "out", formats=("html", "xlsx"), plan_maps=True))
    html = (tmp_path / "out" / "qhpk" / "report.html").read_text(encoding="utf-8")
    section = html.split("Tổng hợp theo quy hoạch đối chiếu")[1].split("<h2>")[0]
    # master: 4 conflict pieces, 5800 m² = 0,5800 ha; parent qhc: 1 piece, 0,2500 ha
    assert '<td>Quy hoạch tỉnh</td><td class="n">4</td><td class="n">0,5800</td>' in section
    assert '<td>qhc</td><td class="n">1</td><td class="n">0,2500</td>' in section
    from openpyxl import load_workbook

    sheet = list(
        load_workbook(tmp_path / "out" / "qhpk" / "report.xlsx", read_only=True)["Xung đột"].iter_rows(values_only=True)
    )
    column = sheet[0].index("Đối chiếu với")
    assert sorted(r[column] for r in sheet[1:]) == ["Quy hoạch tỉnh"] * 6 + ["qhc"] * 2
    page = (tmp_path / "out" / "qhpk" / "map.html").read_text(encoding="utf-8")
    assert "Quy hoạch cấp trên / Parent plan zone" in page


def test_an_edited_parent_makes_the_child_outdated_and_resume_checks_it_again(scene, tmp_path):
    data, registry = scene
    out = tmp_path / "out"
    _run(registry, out)
    reg = load_registry(registry)
    on = dt.date(2025, 6, 1)
    rows = {r["id"]: r for r in build_register(reg, on, results_from_batch_dir(out))["plans"]}
    assert rows["qhpk"]["review_status"] == "needs_adjustment"
    # The general plan is adjusted: Z1 becomes ODT, so P0 no longer conflicts with it.
    edited = general_plan()
    edited.loc[1, "ma"] = "ODT"
    edited.to_file(data / "qhc.gpkg")
    rows = {r["id"]: r for r in build_register(reg, on, results_from_batch_dir(out))["plans"]}
    assert rows["qhpk"]["review_status"] == "outdated"
    assert rows["qhpk"]["review_reason"] == "đã thay đổi sau lần kiểm tra: quy hoạch cấp trên"
    assert rows["qhc"]["review_reason"] == "đã thay đổi sau lần kiểm tra: quy hoạch"
    second = _run(registry, out, resume=True)
    assert [p.status for p in second.plans] == ["checked", "checked"]  # both depend on qhc.gpkg
    qhpk = second.plans[1]
    parent_rows = qhpk.conflicts[qhpk.conflicts["against"] == "qhc"]
    # Now all ODT: P0 on the same code, P1 DGT/ODT and P5 SKK/ODT unreviewed, P4 TMD on ODT is R04.
    assert _rows(parent_rows) == {("qhc", "CHO-1", "Z1", "R04", "conditional", 3600.0, 0.0)}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {r["plan_id"]: r["conflict_area_m2"] for r in summary["by_plan"]}["qhpk"] == pytest.approx(5800.0)


def test_an_unreadable_parent_fails_its_children_with_the_reason(scene, tmp_path):
    data, registry = scene
    (data / "qhc.gpkg").write_bytes(b"not a geopackage")
    result = _run(registry, tmp_path / "out")
    qhc, qhpk = result.plans
    assert qhc.status == qhpk.status == "failed"
    assert qhpk.reason.startswith("quy hoạch cấp trên qhc không đọc được / the parent plan qhc could not be read: ")
    assert result.exit_code == 1


def test_an_exception_accepts_rows_against_the_master_plan_unless_it_names_the_parent(tmp_path):
    """One decision, one finding (CONTRACT §7 + §10). The parent here lists LUC first, so its LUC
    zone is FID 0 like the master's LUC zone M0: KDC-01 has R01 rows against both with
    master_feature 0 (master: 2500 m² on M0; parent: x 100..150 on Z1, 50×50 = 2500 m²).
    Open conflict rows otherwise: R02 KDC-01 2500 m², R02 DT963 90 m, R02 CCN-1 800 m².
    - `qhpk,R01,KDC-01,0` (against master by default): the master's R01 row only; open 4 rows,
      2500 + 800 + 2500 = 5800 m² (the old code excepted both: 3 rows, 3300 m²);
    - the same with against=qhc: the parent's row only, again 4 rows and 5800 m² open;
    - against=elsewhere (not the plan's parent) is a registry problem."""
    from kgspatial.errors import RegistryError

    data = tmp_path / "data"
    data.mkdir()
    geoms.master_frame().to_file(data / "master.gpkg")
    (data / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    geoms.plan_frame().to_file(data / "qhpk.gpkg")
    gpd.GeoDataFrame(
        {"ma": ["LUC", "ODT"], "ten": ["Vùng lúa phía đông", "Khu đô thị trung tâm"]},
        geometry=[geoms.box(100, 0, 200, 200), geoms.box(0, 0, 100, 200)],
        crs=geoms.CRS,
    ).to_file(data / "qhc.gpkg")
    header = "plan_id,rule_id,plan_feature,master_feature,decision,until,basis,note,against\n"

    def run(line: str, out: str):
        (data / "exceptions.csv").write_text(header + line, encoding="utf-8")
        reg = _write_registry(
            data,
            [_plan("qhc", "qhc.gpkg", id_field=None), _plan("qhpk", "qhpk.gpkg", type_="urban_zoning", parent="qhc")],
            exceptions="exceptions.csv",
        )
        result = _run(reg, tmp_path / out)
        qhpk = result.plans[1].conflicts
        r01 = qhpk[(qhpk["plan_feature"] == "KDC-01") & (qhpk["rule_id"] == "R01")]
        review = dict(zip(r01["against"], r01["review"]))
        register = {r["id"]: r for r in result.register["plans"]}["qhpk"]
        return review, register

    review, register = run("qhpk,R01,KDC-01,0,99/QĐ-TTg,,,,\n", "o1")
    assert review == {"master": "excepted", "qhc": "open"}
    assert register["conflicts"] == 4 and register["conflict_area_m2"] == pytest.approx(5800.0)
    assert register["review_status"] == "needs_adjustment"
    review, register = run("qhpk,R01,KDC-01,*,99/QĐ-TTg,,,,master\n", "o2")  # `*` too: the master's rows only
    assert review == {"master": "excepted", "qhc": "open"}
    review, register = run("qhpk,R01,KDC-01,0,99/QĐ-TTg,,,,qhc\n", "o3")
    assert review == {"master": "open", "qhc": "excepted"}
    assert register["conflicts"] == 4 and register["conflict_area_m2"] == pytest.approx(5800.0)
    (data / "exceptions.csv").write_text(header + "qhpk,R01,KDC-01,0,99/QĐ-TTg,,,,elsewhere\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="against: 'elsewhere'"):
        load_registry(
            _write_registry(
                data,
                [
                    _plan("qhc", "qhc.gpkg", id_field=None),
                    _plan("qhpk", "qhpk.gpkg", type_="urban_zoning", parent="qhc"),
                ],
                exceptions="exceptions.csv",
            )
        )
