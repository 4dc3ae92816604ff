"""The plan register (CONTRACT §7): legal status by hand on chosen dates, the law as data, review
status from a batch's results, validation, and the files written.

Hand figures: the scene of tests/geoms.py gives one copy of its plan 5800 m² of conflict in 4
conflict rows (P0 on LUC and on RPH, P5 on RPH, P1's 90 m on RPH): see tests/test_batch.py.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import yaml

from kgspatial.cli import main
from kgspatial.errors import RegistryError
from kgspatial.register import build_register, legal_status, load_transitions, results_from_batch_dir
from kgspatial.registry import load_registry
from kgspatial.taxonomy import default_layers_dir
from tests import geoms
from tests.test_batch import CONFLICT_AREA, _plan, _run, _write_registry, province  # noqa: F401  (fixture)

D = dt.date


def _status(registry: Path, on: D, transitions=None) -> dict[str, tuple]:
    reg = load_registry(registry)
    transitions = transitions or load_transitions()
    out = {}
    for plan in reg.plans:
        s = legal_status(plan, reg, on, transitions)
        out[plan.id] = (s.status, s.since)
    return out


@pytest.fixture()
def legal_registry(province):  # noqa: F811
    return _write_registry(
        province,
        [
            _plan("bo", "plan_a.gpkg", status="abolished"),
            _plan("so-luong", "plan_a.gpkg", fixes_quantities=True, approved="2015-03-01"),
            _plan("so-luong-moi", "plan_a.gpkg", fixes_quantities=True, approved="2021-06-30"),
            _plan("cu", "plan_a.gpkg", superseded_by="moi", approved="2018-01-10"),
            _plan("moi", "plan_a.gpkg", approved="2024-05-01"),
            _plan("tich-hop", "plan_a.gpkg", type_="sectoral_thuy_loi", integrated=True, approved="2019-09-09"),
            _plan("ca-hai", "plan_a.gpkg", integrated=True, fixes_quantities=True),
            _plan("het-ky", "plan_a.gpkg", horizon=2025),
            _plan("du-thao", "plan_a.gpkg", decision=None, approved=None, authority=None),
            _plan("phan-khu", "plan_a.gpkg", type_="urban_zoning", parent="moi", horizon=2035),
        ],
    )


def test_legal_status_by_hand_on_both_sides_of_each_date(legal_registry):
    before = _status(legal_registry, D(2023, 11, 2))
    after = _status(legal_registry, D(2026, 1, 1))
    assert before["bo"] == ("abolished", None) == after["bo"]
    # Art. 59.1.d: abolished from the law's effect (1 Jan 2019), or from approval if later
    assert before["so-luong"] == ("abolished", D(2019, 1, 1))
    assert before["so-luong-moi"] == ("abolished", D(2021, 6, 30))
    # superseded from its successor's approval, not before
    assert before["cu"] == ("in_force", D(2018, 1, 10))
    assert _status(legal_registry, D(2024, 4, 30))["cu"] == ("in_force", D(2018, 1, 10))
    assert _status(legal_registry, D(2024, 5, 1))["cu"] == ("superseded", D(2024, 5, 1))
    assert before["moi"] == ("draft", None)  # approved only on 1 May 2024
    # Art. 59.1.c: folded into the provincial plan, expired from its approval on 3 Nov 2023
    assert before["tich-hop"] == ("in_force", D(2019, 9, 9))
    assert _status(legal_registry, D(2023, 11, 3))["tich-hop"] == ("expired", D(2023, 11, 3))
    assert after["ca-hai"][0] == "abolished"  # the first rule that applies
    assert _status(legal_registry, D(2025, 12, 31))["het-ky"] == ("in_force", D(2020, 1, 31))
    assert after["het-ky"] == ("past_horizon", D(2026, 1, 1))
    assert after["du-thao"] == ("draft", None)
    assert after["phan-khu"] == ("in_force", D(2020, 1, 31))


def test_the_basis_names_the_article_and_the_decision(legal_registry):
    reg = load_registry(legal_registry)
    plans = {p.id: p for p in reg.plans}
    t = load_transitions()
    expired = legal_status(plans["tich-hop"], reg, D(2024, 1, 1), t)
    assert "Điều 59 khoản 1 điểm c" in expired.basis and "21/2017/QH14" in expired.basis
    english = legal_status(plans["so-luong"], reg, D(2024, 1, 1), t, english=True)
    assert english.basis.startswith("Art. 59.1.d Planning Law No. 21/2017/QH14")
    assert legal_status(plans["moi"], reg, D(2025, 1, 1), t).basis.endswith("12/QĐ-UBND")


def test_a_new_law_is_added_as_data(legal_registry, tmp_path):
    """Law 112/2025/QH15: filling in its effective date makes the register cite its Art. 58 from
    then on; before that day, Law 21/2017 is still cited. No code is changed."""
    data = yaml.safe_load((default_layers_dir() / "legal_status.yaml").read_text(encoding="utf-8"))
    assert data["laws"]["L112-2025"]["in_force"] is None  # unchecked: not cited yet
    data["laws"]["L112-2025"]["in_force"] = D(2026, 3, 1)  # as a user would, from the gazette
    edited = tmp_path / "legal_status.yaml"
    edited.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    t = load_transitions(edited)
    reg = load_registry(legal_registry)
    plan = {p.id: p for p in reg.plans}["tich-hop"]
    assert "21/2017/QH14" in legal_status(plan, reg, D(2026, 2, 28), t).basis
    late = legal_status(plan, reg, D(2026, 3, 1), t)
    assert late.status == "expired" and "Điều 58" in late.basis and "112/2025/QH15" in late.basis


def test_a_malformed_transitions_file_lists_every_problem(tmp_path):
    bad = tmp_path / "legal.yaml"
    bad.write_text(
        "laws: {X: {title: t, in_force: soon}}\ntransitions:\n- {status: gone, when: never, basis: []}\n",
        encoding="utf-8",
    )
    with pytest.raises(Exception) as info:
        load_transitions(bad)
    text = str(info.value)
    assert "in_force" in text and "gone" in text and "never" in text and "at least one reference" in text


def test_registry_links_dates_and_years_are_validated_all_at_once(province, tmp_path, capsys):  # noqa: F811
    reg = _write_registry(
        province,
        [
            _plan("a", "plan_a.gpkg", parent="b"),
            _plan("b", "plan_a.gpkg", parent="a"),
            _plan("c", "plan_a.gpkg", parent="khong-co", superseded_by="c"),
            _plan(
                "d",
                "plan_a.gpkg",
                horizon=30000,
                review_due="31/02/2025",
                status="het-han",
                adjustments=[{"decision": "9/QĐ", "approved": "2024-13-01"}],
            ),
        ],
    )
    with pytest.raises(RegistryError) as info:
        load_registry(reg)
    problems = info.value.problems
    text = "\n".join(problems)
    assert "cycle (a -> b -> a)" in text or "cycle (b -> a -> b)" in text
    assert "'khong-co'" in text and "cannot name itself" in text
    assert "30000" in text and "31/02/2025" in text and "het-han" in text and "2024-13-01" in text
    assert sum("cycle" in p for p in problems) == 1
    out = tmp_path / "reg"
    with pytest.raises(SystemExit) as exit_info:
        main(["register", str(reg), "--out", str(out)])
    assert exit_info.value.code == 2 and not out.exists()
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_review_status_from_a_batch_then_outdated_then_overdue(province, tmp_path):  # noqa: F811
    reg_path = _write_registry(
        province,
        [
            _plan("qhc-a", "plan_a.gpkg", review_due="2026-06-30"),
            _plan("tich-hop", "plan_a.gpkg", integrated=True),
            _plan("chua", "missing_copy.gpkg"),
        ],
    )
    shutil.copy(province / "plan_a.gpkg", province / "missing_copy.gpkg")
    batch_out = tmp_path / "batch"
    result = _run(reg_path, batch_out)
    # the batch wrote the register of its day
    written = json.loads((batch_out / "register.json").read_text(encoding="utf-8"))
    assert {r["id"]: r["review_status"] for r in written["plans"]} == {
        "qhc-a": "needs_adjustment",
        "tich-hop": "not_required",
        "chua": "needs_adjustment",
    }
    assert result.summary["register"]["review_status"]["needs_adjustment"] == 2

    reg = load_registry(reg_path)
    results = results_from_batch_dir(batch_out)
    on = D(2026, 1, 15)
    rows = {r["id"]: r for r in build_register(reg, on, results)["plans"]}
    a = rows["qhc-a"]
    assert (a["legal_status"], a["review_status"], a["overdue"]) == ("in_force", "needs_adjustment", False)
    assert a["conflict_area_m2"] == pytest.approx(CONFLICT_AREA) and a["conflicts"] == 4
    assert a["conflict_length_m"] == pytest.approx(90.0)
    assert rows["chua"]["overdue"] is True  # the profile's deadline, 2025-12-31, has passed
    assert rows["tich-hop"]["review_status"] == "not_required" and rows["tich-hop"]["conflicts"] == 4

    # a changed master plan makes every result outdated, and says why
    master = geoms.master_frame()
    master.loc[0, "MA_QH"] = "ODT"
    master.to_file(province / "master.gpkg")
    rows = {r["id"]: r for r in build_register(reg, D(2026, 7, 1), results_from_batch_dir(batch_out))["plans"]}
    assert rows["qhc-a"]["review_status"] == "outdated" and "quy hoạch tỉnh" in rows["qhc-a"]["review_reason"]
    assert rows["qhc-a"]["overdue"] is True  # after its own review_due
    # no results: not checked
    rows = {r["id"]: r for r in build_register(reg, on)["plans"]}
    assert rows["qhc-a"]["review_status"] == "not_checked" and rows["qhc-a"]["conflicts"] is None


def test_register_command_writes_the_public_list(legal_registry, tmp_path):
    out = tmp_path / "reg"
    assert main(["register", str(legal_registry), "--out", str(out), "--on", "01/01/2026"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["register.html", "register.json", "register.pdf", "register.xlsx"]
    content = json.loads((out / "register.json").read_text(encoding="utf-8"))
    assert content["on"] == "2026-01-01"
    assert content["counts"]["legal_status"] == {
        "abolished": 4,
        "superseded": 1,
        "expired": 1,
        "past_horizon": 1,
        "draft": 1,
        "in_force": 2,
    }
    assert set(content["plans"][0]) >= {
        "id",
        "name",
        "type",
        "decision",
        "approved",
        "authority",
        "legal_status",
        "basis",
        "since",
        "review_status",
        "review_due",
        "overdue",
        "conflicts",
        "conflict_area_m2",
        "conflict_length_m",
        "conflict_points",
    }
    html = (out / "register.html").read_text(encoding="utf-8")
    public = html.split("Danh mục quy hoạch hết hiệu lực")[1].split("<h2>")[0]
    assert public.count("<tr>") == 1 + 5  # header, the four abolished plans and the expired one
    assert "Điều 59 khoản 1 điểm d" in public and "Quy hoạch so-luong" in public
    import openpyxl

    wb = openpyxl.load_workbook(out / "register.xlsx")
    assert wb.sheetnames == ["Sổ quy hoạch", "Danh mục công bố", "Cần điều chỉnh", "Quá hạn"]
    assert wb["Danh mục công bố"].max_row == 1 + 5
    assert wb["Sổ quy hoạch"]["D2"].value == dt.datetime(2020, 1, 31)
    pypdf = pytest.importorskip("pypdf")
    import unicodedata

    pages = pypdf.PdfReader(str(out / "register.pdf")).pages
    text = unicodedata.normalize("NFC", " ".join(" ".join(page.extract_text().split()) for page in pages))
    assert "Danh mục quy hoạch hết hiệu lực" in text and "Quy hoạch so-luong" in text and "Bãi bỏ" in text


def test_register_on_a_bad_date_is_exit_2(legal_registry, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["register", str(legal_registry), "--out", str(tmp_path / "r"), "--on", "2025-02-30"])
    assert info.value.code == 2 and not (tmp_path / "r").exists()
    assert "--on" in capsys.readouterr().err


def test_the_province_report_carries_the_register_summary(province, tmp_path):  # noqa: F811
    from kgspatial.batch import BatchOptions, run_batch

    reg = _write_registry(
        province,
        [
            _plan("qhc-a", "plan_a.gpkg"),
            _plan("tich-hop", "plan_a.gpkg", name="Quy hoạch thủy lợi cũ", integrated=True),
        ],
    )
    run_batch(BatchOptions(registry=reg, out=tmp_path / "out", formats=("html",), plan_maps=False))
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    section = html.split("Sổ theo dõi quy hoạch (tình trạng ngày")[1].split("<h2>")[0]
    assert '<td>Hết hiệu lực</td><td class="n">1</td>' in section
    assert '<td>Còn hiệu lực</td><td class="n">1</td>' in section
    assert "Quy hoạch thủy lợi cũ" in section and "Điều 59 khoản 1 điểm c" in section
