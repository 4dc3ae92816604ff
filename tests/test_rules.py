"""Rule precedence as CONTRACT §3 writes it, and validation that lists every problem."""

from __future__ import annotations

import pytest

from kgspatial.errors import RulesError
from kgspatial.rules import SAME_CODE, UNREVIEWED, load_rules
from kgspatial.taxonomy import Taxonomy


@pytest.fixture(scope="module")
def taxonomy():
    return Taxonomy.load()


def table(tmp_path, taxonomy, body: str):
    path = tmp_path / "r.csv"
    path.write_text("rule_id,plan_code,master_code,verdict,severity,reference,note\n" + body, encoding="utf-8")
    return load_rules(path, taxonomy)


def rule_id(result):
    return result.rule_id if hasattr(result, "rule_id") else result


def test_specificity_order(tmp_path, taxonomy):
    t = table(
        tmp_path,
        taxonomy,
        (
            "W,*,*,conditional,low,,\n"
            "G,PNN,NNP,conflict,medium,,\n"  # group/group: 1+1
            "C1,ODT,NNP,conflict,high,,\n"  # code/group: 2+1
            "C2,PNN,LUC,conflict,high,,\n"  # group/code: 1+2 -> ties C1 on total, loses on plan side
            "E,ODT,LUC,conflict,high,,\n"  # code/code: 2+2
        ),
    )
    assert rule_id(t.lookup("ODT", "LUC")) == "E"
    assert rule_id(t.lookup("ODT", "RPH")) == "C1"  # RPH is agricultural (forest) land: NNP
    assert rule_id(t.lookup("TMD", "LUC")) == "C2"
    assert rule_id(t.lookup("TMD", "NTS")) == "G"
    assert rule_id(t.lookup("ODT", "DGT")) == "W"
    assert t.lookup("LUC", "LUC") == SAME_CODE  # same code: compatible unless named exactly


def test_same_code_named_exactly(tmp_path, taxonomy):
    t = table(tmp_path, taxonomy, "X,RPH,RPH,conflict,high,,\nY,*,*,conflict,high,,\n")
    assert rule_id(t.lookup("RPH", "RPH")) == "X"
    assert t.lookup("ODT", "ODT") == SAME_CODE


def test_unreviewed_and_unknown(tmp_path, taxonomy):
    t = table(tmp_path, taxonomy, "A,ODT,LUC,conflict,high,,\n")
    assert t.lookup("TMD", "LUC") == UNREVIEWED
    assert t.lookup(None, "LUC") == UNREVIEWED
    t2 = table(tmp_path, taxonomy, "A,*,LUC,conflict,high,,\n")
    assert rule_id(t2.lookup(None, "LUC")) == "A"  # an unknown code still matches `*`


def test_group_tie_is_a_table_error(tmp_path, taxonomy):
    # LUC belongs to both LUA and NNP: both rules score 1+2 for (LUC, RPH) -> ambiguous.
    with pytest.raises(RulesError) as exc:
        table(tmp_path, taxonomy, "A,LUA,RPH,conflict,high,,\nB,NNP,RPH,conditional,low,,\n")
    assert "A (row 2) and B (row 3) tie" in str(exc.value)


def test_every_problem_listed(tmp_path, taxonomy):
    with pytest.raises(RulesError) as exc:
        table(
            tmp_path,
            taxonomy,
            (
                ",ODT,LUC,conflict,high,,\n"
                "R2,ODT,LUC,maybe,high,,\n"
                "R3,QQQ,LUC,conflict,high,,\n"
                "R4,ODT,RPH,conflict,,,\n"
                "R5,ODT,RPH,compatible,,,\n"
            ),
        )
    problems = exc.value.problems
    assert any("row 2, rule_id: empty" in p for p in problems)
    assert any("row 3, verdict" in p for p in problems)
    assert any("row 3: pair ODT / LUC already" in p for p in problems)
    assert any("row 4, plan_code: 'QQQ'" in p for p in problems)
    assert any("row 5, severity: required" in p for p in problems)
    assert any("row 6: pair ODT / RPH already" in p for p in problems)
    assert len(problems) == 6


def test_header_problems(tmp_path, taxonomy):
    path = tmp_path / "r.csv"
    path.write_text("id,plan,master_code,verdict\n", encoding="utf-8")
    with pytest.raises(RulesError) as exc:
        load_rules(path, taxonomy)
    assert "missing column(s) rule_id, plan_code, severity" in str(exc.value)
    path.write_bytes(
        "rule_id,plan_code,master_code,verdict,severity\nR1,ODT,LUC,conflict,high,Lu\xe9t\n".encode("latin-1")
    )
    with pytest.raises(RulesError, match="not UTF-8"):
        load_rules(path, taxonomy)


def test_default_kien_giang_rules_load(taxonomy):
    from kgspatial.profile import load_profile

    t = load_rules(load_profile("kien-giang").rules, taxonomy)
    assert len(t.rules) >= 20
    assert all(r.reference for r in t.rules if r.verdict != "compatible")
    assert rule_id(t.lookup("ODT", "LUC")) not in (UNREVIEWED, SAME_CODE)
