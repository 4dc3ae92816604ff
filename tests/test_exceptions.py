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
    return pd.DataFrame({
        "conflict_id": ["a", "b", "c", "d", "e"],
        "plan_id": ["qhpk", "qhpk", "qhpk", "qhpk", "other"],
        "plan_feature": ["7", "7", "7", "8", "7"],
        "master_feature": ["101", "102", "101", "101", "101"],
        "rule_id": ["R01", "R01", "R02", "R01", "R01"],
        "verdict": ["conflict"] * 5,
        "area_m2": [100.0, 50.0, 25.0, 10.0, 5.0],
    })


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
    path.write_bytes(("\ufeff" + HEADER.replace(",", ";")
                      + "qhpk;R01;7;*;12/QĐ-UBND;31/12/2026;Điều 5 Luật Đất đai;Dự án trọng điểm\n"
                      + "\n"
                      + "qhpk;R02;7;101;13/QĐ-UBND;2027-01-15;;\n").encode("utf-8"))
    got = read_exceptions(path)
    assert got == [
        PlanException("qhpk", "R01", "7", "*", "12/QĐ-UBND", dt.date(2026, 12, 31), "Điều 5 Luật Đất đai",
                      "Dự án trọng điểm"),
        PlanException("qhpk", "R02", "7", "101", "13/QĐ-UBND", dt.date(2027, 1, 15), "", ""),
    ]


def test_optional_columns_may_be_left_out(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("plan_id,rule_id,plan_feature,master_feature,decision\nqhpk,R01,7,101,12/QĐ\n", encoding="utf-8")
    assert read_exceptions(path) == [PlanException("qhpk", "R01", "7", "101", "12/QĐ", None, "", "")]


def test_every_problem_listed_at_once(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(HEADER
                    + ",R01,7,101,12/QĐ,,,\n"              # row 2: no plan id
                    + "qhpk,R01,*,101,12/QĐ,,,\n"          # row 3: plan feature *
                    + "qhpk,R01,7,101,,30/02/2026,,\n"     # row 4: no decision, 30 February
                    + "qhpk,R01,7,101,12/QĐ,,,\n"          # row 5: fine
                    + "qhpk,R01,7,101,14/QĐ,,,\n"          # row 6: same finding as row 5
                    + "qhpk,R01,7,101,12/QĐ,,,,extra\n",   # row 7: too many cells
                    encoding="utf-8")
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
    assert str(info.value).startswith(f"{path}: 6 problem(s): ")
    assert isinstance(info.value, KgSpatialError) and info.value.exit_code == 2 and info.value.http_status == 422


def test_bad_header_and_unreadable_files(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("plan_id,rule,plan_feature,decision,comment\n", encoding="utf-8")
    with pytest.raises(ExceptionsError) as info:
        read_exceptions(path)
    assert info.value.problems == [
        "header: thiếu cột / missing column(s) rule_id, master_feature",
        "header: cột không có trong bảng / unknown column(s) rule, comment"
        " (columns: plan_id,rule_id,plan_feature,master_feature,decision,until,basis,note)",
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
    got = parse_exceptions([{"plan_id": "qhpk", "rule_id": "R01", "plan_feature": 7, "master_feature": "*",
                             "decision": "12/QĐ", "until": "2026-12-31", "basis": None, "note": ""}], "POST")
    assert got == [PlanException("qhpk", "R01", "7", "*", "12/QĐ", dt.date(2026, 12, 31), "", "")]
    with pytest.raises(ExceptionsError) as info:
        parse_exceptions([{"plan_id": "qhpk", "rule_id": "*", "plan_feature": 7, "master_feature": "*",
                           "decision": "12/QĐ", "colour": "red"}, "not a row", {}], "POST")
    problems = info.value.problems
    assert problems[0] == "row 1: cột không có trong bảng / unknown column(s) colour"
    assert problems[1].startswith("row 1, rule_id:")
    assert problems[2] == "row 2: không phải một dòng có các cột / not a row of named cells"
    assert problems[3:] == [f"row 3, {c}: trống / empty" for c in
                            ("plan_id", "rule_id", "plan_feature", "master_feature", "decision")]
    with pytest.raises(ExceptionsError):
        parse_exceptions({"plan_id": "x"}, "POST")
