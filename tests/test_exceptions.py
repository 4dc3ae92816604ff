"""Exceptions (CONTRACT §10): which rows a decision excepts, when it stops, and a table that is
refused whole with every problem listed."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from kgspatial.errors import ExceptionsError, KgSpatialError
from kgspatial.exceptions import PlanException, apply_exceptions, open_rows, parse_exceptions, read_exceptions

HEADER = "plan_id,rule_id,plan_feature,master_feature,decision,until,basis,note\n"


def rows() -> pd.DataFrame:
    """Five conflict rows of two plans, as the check makes them (feature ids are text)."""
    return pd.DataFrame(
        {
            "conflict_id": ["a", "b", "c", "d", "e"],
            "plan_id": ["qhpk", "qhpk", "qhpk", "qhpk", "other"],
            "plan_feature": ["7", "7", "7", "8", "7"],
            "master_feature": ["101", "102", "101", "101", "101"],
            "rule_id": ["R01", "R01", "R02", "R01", "R01"],
            "verdict": ["conflict"] * 5,
            "area_m2": [100.0, 50.0, 25.0, 10.0, 5.0],
        }
    )


def exc(plan="qhpk", rule="R01", pf="7", mf="101", decision="12/QĐ-UBND", until=None) -> PlanException:
    return PlanException(plan, rule, pf, mf, decision, until, "Luật Đất đai 2024", "")


ON = dt.date(2026, 3, 1)


def test_named_features_except_one_row():
    out, warnings = apply_exceptions(rows(), [exc()], "qhpk", ON)
    assert list(out["review"]) == ["excepted", "open", "open", "open", "open"]
    assert list(out["review_decision"]) == ["12/QĐ-UBND", "", "", "", ""]
    assert warnings == []
    # Open area: 50 + 25 + 10 + 5 (row a's 100 m² is excepted).
    assert out.loc[open_rows(out), "area_m2"].sum() == 90.0


def test_any_master_feature_and_the_named_decision_shown_first():
    # `*` covers rows a and b (plan feature 7, rule R01, any master zone) but not c (rule R02)
    # nor e (another plan). Row a is also named exactly: its own decision is the one shown.
    out, warnings = apply_exceptions(rows(), [exc(mf="*", decision="99/QĐ"), exc(decision="12/QĐ")], "qhpk", ON)
    assert list(out["review"]) == ["excepted", "excepted", "open", "open", "open"]
    assert list(out["review_decision"]) == ["12/QĐ", "99/QĐ", "", "", ""]
    assert warnings == []


def test_until_is_the_last_day_it_applies():
    last_day = dt.date(2026, 3, 1)
    out, warnings = apply_exceptions(rows(), [exc(until=last_day)], "qhpk", last_day)
    assert out["review"].iloc[0] == "excepted" and warnings == []
    out, warnings = apply_exceptions(rows(), [exc(until=last_day)], "qhpk", last_day + dt.timedelta(days=1))
    assert (out["review"] == "open").all()
    assert len(warnings) == 1 and "expired on 2026-03-01" in warnings[0] and "1 row(s) stay open" in warnings[0]
    assert warnings[0].startswith("ngoại lệ đã hết hạn")


def test_matching_nothing_is_a_warning_and_other_plans_are_left_alone():
    stray = [exc(pf="9"), exc(plan="qhpk", rule="R09"), exc(plan="elsewhere")]
    out, warnings = apply_exceptions(rows(), stray, "qhpk", ON)
    assert (out["review"] == "open").all()
    assert len(warnings) == 2  # the third belongs to another plan: its own check reports it
    assert all("matches no conflict row" in w for w in warnings)
    # plan_id None: every plan present in the rows; one absent from them is not this run's business.
    out, warnings = apply_exceptions(rows(), [exc(plan="other"), exc(plan="elsewhere")], None, ON)
    assert list(out["review"]) == ["open", "open", "open", "open", "excepted"]
    assert warnings == []


def test_no_rows_and_no_exceptions():
    empty = rows().iloc[0:0]
    out, warnings = apply_exceptions(empty, [exc()], "qhpk", ON)
    assert len(out) == 0 and "review" in out and len(warnings) == 1
    out, warnings = apply_exceptions(rows(), [], "qhpk", ON)
    assert (out["review"] == "open").all() and warnings == []
    assert open_rows(rows()).all()  # rows never reviewed are all open


def test_read_csv_with_semicolons_bom_and_both_date_forms(tmp_path):
    path = tmp_path / "exceptions.csv"
    path.write_bytes(
        (
            "\ufeff"
            + HEADER.replace(",", ";")
            + "qhpk;R01;7;*;12/QĐ-UBND;31/12/2026;Điều 5 Luật Đất đai;Dự án trọng điểm\n"
            + "\n"
            + "qhpk;R02;7;101;13/QĐ-UBND;2027-01-15;;\n"
        ).encode("utf-8")
    )
    got = read_exceptions(path)
    assert got == [
        PlanException(
            "qhpk", "R01", "7", "*", "12/QĐ-UBND", dt.date(2026, 12, 31), "Điều 5 Luật Đất đai", "Dự án trọng điểm"
        ),
        PlanException("qhpk", "R02", "7", "101", "13/QĐ-UBND", dt.date(2027, 1, 15), "", ""),
    ]


def test_optional_columns_may_be_left_out(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("plan_id,rule_id,plan_feature,master_feature,decision\nqhpk,R01,7,101,12/QĐ\n", encoding="utf-8")
    assert read_exceptions(path) == [PlanException("qhpk", "R01", "7", "101", "12/QĐ", None, "", "")]


def test_every_problem_listed_at_once(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(
        HEADER
        + ",R01,7,101,12/QĐ,,,\n"  # row 2: no plan id
        + "qhpk,R01,*,101,12/QĐ,,,\n"  # row 3: plan feature *
        + "qhpk,R01,7,101,,30/02/2026,,\n"  # row 4: no decision, 30 February
        + "qhpk,R01,7,101,12/QĐ,,,\n"  # row 5: fine
        + "qhpk,R01,7,101,14/QĐ,,,\n"  # row 6: same finding as row 5
        + "qhpk,R01,7,101,12/QĐ,,,,extra\n",  # row 7: too many cells
        encoding="utf-8",
    )
    with pytest.raises(ExceptionsError) as info:
        read_exceptions(path)
    problems = info.value.problems
    assert len(problems) == 6, problems
    assert problems[0] == "row 2, plan_id: trống / empty"
    assert problems[1].startswith("row 3, plan_feature:")
    assert "row 4, decision: trống / empty" in problems
    assert any(p.startswith("row 4, until:") and "'30/02/2026' is not a date" in p for p in problems)
    assert any(p.startswith("row 6:") and "row 5" in p for p in problems)
    assert any(p.startswith("row 7:") and "9 cells for 8 columns" in p for p in problems)
    assert str(info.value).startswith(f"{path}: 6 lỗi / 6 problem(s): ")
    assert isinstance(info.value, KgSpatialError) and info.value.exit_code == 2 and info.value.http_status == 422


def test_bad_header_and_unreadable_files(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("plan_id,rule,plan_feature,decision,comment\n", encoding="utf-8")
    with pytest.raises(ExceptionsError) as info:
        read_exceptions(path)
    assert info.value.problems == [
        "header: thiếu cột / missing column(s) rule_id, master_feature",
        "header: cột không có trong bảng / unknown column(s) rule, comment"
        " (columns: plan_id,rule_id,plan_feature,master_feature,decision,until,basis,note,against)",
    ]
    path.write_bytes(HEADER.encode() + "qhpk,R01,7,101,12/QĐ\n".encode("cp1258"))
    with pytest.raises(ExceptionsError, match="not UTF-8"):
        read_exceptions(path)
    path.write_text(HEADER + 'qhpk,R01,7,101,"12/QĐ\n', encoding="utf-8")
    with pytest.raises(ExceptionsError, match="check the quotes"):
        read_exceptions(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(ExceptionsError, match="empty"):
        read_exceptions(path)
    with pytest.raises(ExceptionsError, match="cannot read"):
        read_exceptions(tmp_path / "missing.csv")


def test_parse_json_rows_as_the_service_sends_them():
    got = parse_exceptions(
        [
            {
                "plan_id": "qhpk",
                "rule_id": "R01",
                "plan_feature": 7,
                "master_feature": "*",
                "decision": "12/QĐ",
                "until": "2026-12-31",
                "basis": None,
                "note": "",
            }
        ],
        "POST",
    )
    assert got == [PlanException("qhpk", "R01", "7", "*", "12/QĐ", dt.date(2026, 12, 31), "", "")]
    with pytest.raises(ExceptionsError) as info:
        parse_exceptions(
            [
                {
                    "plan_id": "qhpk",
                    "rule_id": "*",
                    "plan_feature": 7,
                    "master_feature": "*",
                    "decision": "12/QĐ",
                    "colour": "red",
                },
                "not a row",
                {},
            ],
            "POST",
        )
    problems = info.value.problems
    assert problems[0] == "row 1: cột không có trong bảng / unknown column(s) colour"
    assert problems[1].startswith("row 1, rule_id:")
    assert problems[2] == "row 2: không phải một dòng có các cột / not a row of named cells"
    assert problems[3:] == [
        f"row 3, {c}: trống / empty" for c in ("plan_id", "rule_id", "plan_feature", "master_feature", "decision")
    ]
    with pytest.raises(ExceptionsError):
        parse_exceptions({"plan_id": "x"}, "POST")


# ---------------------------------------------------------------- through `kgspatial check`
# The scene of tests/geoms.py: open conflicts by hand are KDC-01 on LUC (R01, 2500 m²), KDC-01 on
# RPH (R02, 2500 m²), DT963 on RPH (R02, 90 m), CCN-1 on RPH (R02, 800 m²); conditional findings
# DT963 on LUC (R03, 90 m) and CHO-1 on ODT (R04, 3600 m²).


@pytest.fixture()
def scene(tmp_path):
    from tests import geoms

    geoms.master_frame().to_file(tmp_path / "master.gpkg")
    geoms.plan_frame().to_file(tmp_path / "plan.gpkg")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    return tmp_path


def _check(scene, exceptions: str, *extra: str) -> tuple[int, str]:
    from kgspatial.cli import main

    (scene / "exceptions.csv").write_text(HEADER + exceptions, encoding="utf-8")
    out = scene / "out"
    argv = [
        "check",
        "--master",
        str(scene / "master.gpkg"),
        "--plan",
        str(scene / "plan.gpkg"),
        "--rules",
        str(scene / "rules.csv"),
        "--plan-id-field",
        "so_hieu",
        "--exceptions",
        str(scene / "exceptions.csv"),
        "--out",
        str(out),
        "-q",
        *extra,
    ]
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(argv))
    return info.value.code, out


def test_check_marks_rows_and_keeps_them_out_of_the_figures(scene):
    import json

    import pyogrio

    master_ids = dict(zip(["LUC", "RPH", "ODT"], map(str, range(3))))  # FIDs as the check reads them
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    code, out = _check(
        scene,
        (
            "plan,R02,KDC-01,*,15/QĐ-UBND,,Nghị quyết HĐND,Khu dân cư tái định cư\n"  # excepts 2500 m²
            f"plan,R02,CCN-1,{master_ids['RPH']},16/QĐ-UBND,{yesterday},,\n"  # expired
            "plan,R01,TBA-1,*,17/QĐ-UBND,,,\n"  # matches nothing
        ),
        "--report",
        "html,xlsx",
    )
    assert code == 1  # KDC-01 on LUC and the others are still open
    rows = pyogrio.read_dataframe(out / "conflicts.gpkg")
    excepted = rows[rows["review"] == "excepted"]
    assert list(zip(excepted["plan_feature"], excepted["master_code"], excepted["review_decision"])) == [
        ("KDC-01", "RPH", "15/QĐ-UBND")
    ]
    assert set(rows.loc[rows["review"] != "excepted", "review"]) == {"open"}
    assert set(rows.loc[rows["review"] == "open", "review_decision"]) == {""}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    totals = summary["totals"]
    assert totals["conflict_area_m2"] == pytest.approx(2500 + 800)  # 5800 less the excepted 2500
    assert totals["conflict_length_m"] == pytest.approx(90.0)
    assert totals["excepted_pieces"] == 1 and totals["excepted_area_m2"] == pytest.approx(2500.0)
    assert totals["conditional_area_m2"] == pytest.approx(3600.0)
    assert totals["conflict_rows"] == 6
    assert summary["by_plan"][0]["conflicts"] == 3 and summary["by_plan"][0]["excepted"] == 1
    assert {r["rule_id"]: r["area_m2"] for r in summary["by_rule"]}["R02"] == pytest.approx(800.0)
    assert summary["excepted"] == [
        {
            "plan_id": "plan",
            "rule_id": "R02",
            "verdict": "conflict",
            "review_decision": "15/QĐ-UBND",
            "pieces": 1,
            "area_m2": pytest.approx(2500.0),
            "length_m": 0.0,
            "points": 0,
        }
    ]
    warnings = [w for w in summary["warnings"] if "exception" in w]
    assert len(warnings) == 2
    assert any(f"expired on {yesterday}" in w and "1 row(s) stay open" in w for w in warnings)
    assert any("plan / R01 / TBA-1 / * (17/QĐ-UBND) matches no conflict row" in w for w in warnings)

    # The reports list the excepted piece apart, with its decision.
    from openpyxl import load_workbook

    book = load_workbook(out / "report.xlsx", read_only=True)
    assert "Đã chấp thuận" in book.sheetnames
    sheet = list(book["Đã chấp thuận"].iter_rows(values_only=True))
    header, (row,) = sheet[0], sheet[1:]
    assert row[header.index("Quyết định chấp thuận")] == "15/QĐ-UBND"
    assert row[header.index("Diện tích (ha)")] == pytest.approx(0.25)
    conflicts = list(book["Xung đột"].iter_rows(values_only=True))
    assert len(conflicts) == 1 + 5  # the open rows only
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Xung đột đã được chấp thuận theo quyết định" in html and "15/QĐ-UBND" in html


def test_check_exit_0_when_every_conflict_is_excepted(scene):
    code, out = _check(
        scene,
        (
            "plan,R01,KDC-01,*,15/QĐ,,,\n"
            "plan,R02,KDC-01,*,15/QĐ,,,\n"
            "plan,R02,DT963,*,15/QĐ,,,\n"
            "plan,R02,CCN-1,*,15/QĐ,,,\n"
        ),
    )
    assert code == 0  # conditional findings (R03, R04) are allowed
    import json

    totals = json.loads((out / "summary.json").read_text(encoding="utf-8"))["totals"]
    assert totals["conflict_pieces"] == 0 and totals["excepted_pieces"] == 4
    assert totals["excepted_area_m2"] == pytest.approx(5800.0) and totals["excepted_length_m"] == pytest.approx(90.0)


def test_check_refuses_a_bad_exceptions_file_before_any_work(scene, capsys):
    code, out = _check(scene, "plan,R01,,*,,31/12/2026x,,\n")
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "3 problem(s)" in err and "row 2, plan_feature: trống / empty" in err


# ---------------------------------------------------------------- in a batch (registry key `exceptions`)


def test_batch_excepted_rows_leave_needs_adjustment_and_the_exit_code(tmp_path):
    from tests import geoms
    from tests.test_batch import _plan, _run, _write_registry

    data = tmp_path / "data"
    data.mkdir()
    geoms.master_frame().to_file(data / "master.gpkg")
    (data / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    geoms.plan_frame().to_file(data / "plan_a.gpkg")
    (data / "exceptions.csv").write_text(
        HEADER
        + "".join(
            f"qhc-a,{rule},{feature},*,15/QĐ-UBND,,,\n"
            for rule, feature in (("R01", "KDC-01"), ("R02", "KDC-01"), ("R02", "DT963"), ("R02", "CCN-1"))
        )
        + "qhc-b,R02,CCN-1,*,16/QĐ-UBND,,,\n",
        encoding="utf-8",
    )
    reg = _write_registry(
        data, [_plan("qhc-a", "plan_a.gpkg"), _plan("qhc-b", "plan_a.gpkg")], exceptions="exceptions.csv"
    )
    result = _run(reg, tmp_path / "out")
    a, b = result.plans
    assert not a.needs_adjustment and b.needs_adjustment
    rows = {r["plan_id"]: r for r in result.summary["by_plan"]}
    assert rows["qhc-a"]["conflict_area_m2"] == 0 and rows["qhc-a"]["excepted"] == 4
    assert rows["qhc-b"]["conflict_area_m2"] == pytest.approx(5800 - 800) and rows["qhc-b"]["excepted"] == 1
    assert result.summary["plans"]["needs_adjustment"] == 1
    register = {r["id"]: r for r in result.register["plans"]}
    assert register["qhc-a"]["review_status"] == "consistent" and register["qhc-a"]["conflicts"] == 0
    assert register["qhc-b"]["review_status"] == "needs_adjustment" and register["qhc-b"]["conflicts"] == 3
    assert result.exit_code == 1  # qhc-b still has open conflicts

    # Only qhc-a: every conflict excepted, the batch exits 0.
    reg = _write_registry(data, [_plan("qhc-a", "plan_a.gpkg")], exceptions="exceptions.csv")
    (data / "exceptions.csv").write_text(
        "\n".join((data / "exceptions.csv").read_text(encoding="utf-8").splitlines()[:-1]) + "\n", encoding="utf-8"
    )
    assert _run(reg, tmp_path / "out2").exit_code == 0


def test_a_registry_with_bad_exceptions_lists_them_with_its_other_problems(tmp_path):
    from kgspatial.errors import RegistryError
    from kgspatial.registry import load_registry
    from tests import geoms
    from tests.test_batch import _plan, _write_registry

    geoms.master_frame().to_file(tmp_path / "master.gpkg")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    geoms.plan_frame().to_file(tmp_path / "plan_a.gpkg")
    (tmp_path / "exceptions.csv").write_text(
        HEADER + "qhc-a,R01,KDC-01,*,,,,\nnobody,R01,KDC-01,*,1/QĐ,,,\n", encoding="utf-8"
    )
    reg = _write_registry(tmp_path, [_plan("qhc-a", "plan_a.gpkg", parent="ghost")], exceptions="exceptions.csv")
    with pytest.raises(RegistryError) as info:
        load_registry(reg)
    assert info.value.problems == [
        "plans (qhc-a).parent: no plan with id 'ghost' in the registry",
        "exceptions (exceptions.csv): row 2, decision: trống / empty",
    ]
    (tmp_path / "exceptions.csv").write_text(HEADER + "nobody,R01,KDC-01,*,1/QĐ,,,\n", encoding="utf-8")
    reg = _write_registry(tmp_path, [_plan("qhc-a", "plan_a.gpkg")], exceptions="missing.csv")
    with pytest.raises(RegistryError, match="exceptions: file not found"):
        load_registry(reg)
    reg = _write_registry(tmp_path, [_plan("qhc-a", "plan_a.gpkg")], exceptions="exceptions.csv")
    with pytest.raises(RegistryError, match="no plan with id 'nobody'"):
        load_registry(reg)
