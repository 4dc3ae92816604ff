"""`batch --resume` after a master-plan change (CONTRACT §7): a plan that touches none of the
changed pieces keeps its results (the register says so), the others are checked again.

The master of tests/geoms.py (M0 LUC [0,100]², M1 RPH [100,200]×[0,100], M2 ODT [0,200]×[100,200])
is adjusted: M1 becomes RSX (production forest). The changed piece is M1's square.
    near  the geoms plan, across M0, M1, M2: touches it -> checked again. Before: 5800 m² and 90 m
          of conflict; after: RSX is no longer under R02 (*, RPH) and ODT/RSX, DGT/RSX, SKK/RSX have
          no rule, so only KDC-01 on LUC is left: 2500 m², 0 m.
    west  ODT [10,40]×[10,40] on M0: R01, 30×30 = 900 m²; far from M1 -> kept, not even read.
    edge  ODT [60,100]×[20,60] on M0: R01, 40×40 = 1600 m²; its east side lies on M1's west edge
          (x = 100): it touches the change -> checked again (same figures).
"""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import pytest

from kgspatial.batch import SNAPSHOT_DIR, STATE_FILE
from kgspatial.register import build_register, results_from_batch_dir
from kgspatial.registry import load_registry
from tests import geoms
from tests.test_batch import _plan, _run, _write_registry


def _square(code: str, box) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"ma": [code], "ten": ["Khu ở"], "so_hieu": ["K1"]}, geometry=[box], crs=geoms.CRS)


@pytest.fixture()
def province(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    geoms.master_frame().to_file(data / "master.gpkg")
    (data / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    geoms.plan_frame().to_file(data / "near.gpkg")
    _square("ODT", geoms.box(10, 10, 40, 40)).to_file(data / "west.gpkg")
    _square("ODT", geoms.box(60, 20, 100, 60)).to_file(data / "edge.gpkg")
    registry = _write_registry(data, [_plan(p, f"{p}.gpkg") for p in ("near", "west", "edge")])
    return data, registry


def _areas(result) -> dict[str, float]:
    return {r["plan_id"]: r["conflict_area_m2"] for r in result.summary["by_plan"]}


def test_only_plans_touching_a_changed_piece_are_checked_again(province, tmp_path):
    data, registry = province
    out = tmp_path / "out"
    first = _run(registry, out)
    assert _areas(first) == {"near": pytest.approx(5800.0), "west": pytest.approx(900.0), "edge": pytest.approx(1600.0)}
    assert len(list((out / SNAPSHOT_DIR).glob("*.gpkg"))) == 1
    west_rows = (out / "west" / "conflicts.gpkg").stat().st_mtime_ns

    master = geoms.master_frame()
    master.loc[1, "MA_QH"] = "RSX"
    master.to_file(data / "master.gpkg")
    second = _run(registry, out, resume=True)
    status = {p.id: (p.status, p.note) for p in second.plans}
    assert status == {
        "near": ("checked", None),
        "west": ("unchanged", "master_changed_elsewhere"),
        "edge": ("checked", None),
    }
    assert _areas(second) == {
        "near": pytest.approx(2500.0),
        "west": pytest.approx(900.0),
        "edge": pytest.approx(1600.0),
    }
    assert second.summary["plans"]["kept"] == 1 and second.summary["plans"]["checked"] == 2
    assert (out / "west" / "conflicts.gpkg").stat().st_mtime_ns == west_rows  # not written again
    assert len(list((out / SNAPSHOT_DIR).glob("*.gpkg"))) == 1  # the new master's snapshot only

    # The register says so, and the kept result is not "outdated": it stands for the new master.
    rows = {r["id"]: r for r in second.register["plans"]}
    assert rows["west"]["result"] == "kept" and rows["near"]["result"] == "checked"
    assert rows["west"]["review_status"] == "needs_adjustment"
    assert rows["west"]["review_reason"].startswith("quy hoạch tỉnh đã thay đổi nhưng không ở phạm vi")
    later = {
        r["id"]: r
        for r in build_register(load_registry(registry), dt.date(2025, 6, 1), results_from_batch_dir(out))["plans"]
    }
    assert later["west"]["review_status"] == "needs_adjustment" and later["west"]["result"] == "kept"
    assert later["near"]["conflict_area_m2"] == pytest.approx(2500.0)
    state = json.loads((out / "west" / STATE_FILE).read_text(encoding="utf-8"))
    assert state["master"] == json.loads((out / "near" / STATE_FILE).read_text(encoding="utf-8"))["master"]

    # Nothing changed since: every plan is plainly unchanged.
    third = _run(registry, out, resume=True)
    assert {p.id: (p.status, p.note) for p in third.plans} == {
        "near": ("unchanged", None),
        "west": ("unchanged", None),
        "edge": ("unchanged", None),
    }


def test_without_the_last_runs_master_every_plan_is_checked_again(province, tmp_path):
    import shutil

    data, registry = province
    out = tmp_path / "out"
    _run(registry, out)
    shutil.rmtree(out / SNAPSHOT_DIR)
    master = geoms.master_frame()
    master.loc[1, "MA_QH"] = "RSX"
    master.to_file(data / "master.gpkg")
    again = _run(registry, out, resume=True)
    assert [p.status for p in again.plans] == ["checked"] * 3


def test_another_change_than_the_master_checks_every_plan_again(province, tmp_path):
    data, registry = province
    out = tmp_path / "out"
    _run(registry, out)
    with open(data / "rules.csv", "a", encoding="utf-8") as fh:
        fh.write("R09,ODT,ODT,conflict,low,,\n")
    again = _run(registry, out, resume=True)
    assert [p.status for p in again.plans] == ["checked"] * 3


def test_an_exception_added_to_one_plan_checks_that_plan_again_only(province, tmp_path):
    data, registry = province
    out = tmp_path / "out"
    _run(registry, out)
    (data / "exceptions.csv").write_text(
        "plan_id,rule_id,plan_feature,master_feature,decision,until,basis,note\nwest,R01,K1,*,7/QĐ-UBND,,,\n",
        encoding="utf-8",
    )
    registry = _write_registry(
        data, [_plan(p, f"{p}.gpkg") for p in ("near", "west", "edge")], exceptions="exceptions.csv"
    )
    again = _run(registry, out, resume=True)
    assert {p.id: p.status for p in again.plans} == {"near": "unchanged", "west": "checked", "edge": "unchanged"}
    west = {r["plan_id"]: r for r in again.summary["by_plan"]}["west"]
    assert (west["conflict_area_m2"], west["excepted"]) == (0.0, 1)  # its 900 m² accepted
    assert not again.plans[1].needs_adjustment


def test_a_renamed_or_renumbered_master_zone_checks_its_plans_again(province, tmp_path):
    """Conflict rows carry `master_label` and `master_feature`: a zone that only changes its name
    (TEN) or its feature id changes them. west lies on M0 only (R01, 900 m², label "Lúa chuyên
    canh", FID 0), near on M0, M1 and M2, edge on M0 and M1's edge.
    - M2 renamed: near is checked again (its R04 row on M2 says the new name); west and edge kept;
    - M0 renamed: every plan lies on M0, all checked again: west's row says "Lúa A ĐỔI TÊN";
    - the rows written in reverse order (M0 becomes FID 2, M2 FID 0; codes and geometry the same):
      west's row says master_feature 2.
    Each time the resumed rows equal a fresh run's (the old code kept the old name and id)."""
    import pyogrio

    data, registry = province
    out = tmp_path / "out"
    _run(registry, out)

    def rows(folder, plan):
        frame = pyogrio.read_dataframe(folder / plan / "conflicts.gpkg")
        return sorted(zip(frame["plan_feature"], frame["rule_id"], frame["master_feature"], frame["master_label"]))

    def resume_and_compare(master, fresh_name):
        master.to_file(data / "master.gpkg")
        resumed = _run(registry, out, resume=True)
        _run(registry, tmp_path / fresh_name)
        for plan in ("near", "west", "edge"):
            assert rows(out, plan) == rows(tmp_path / fresh_name, plan), plan
        return {p.id: p.status for p in resumed.plans}

    master = geoms.master_frame()
    master.loc[2, "TEN"] = "Đô thị Rạch Giá mở rộng"
    assert resume_and_compare(master, "fresh1") == {"near": "checked", "west": "unchanged", "edge": "unchanged"}
    assert ("CHO-1", "R04", "2", "Đô thị Rạch Giá mở rộng") in rows(out, "near")
    master.loc[0, "TEN"] = "Lúa A ĐỔI TÊN"
    assert resume_and_compare(master, "fresh2") == {"near": "checked", "west": "checked", "edge": "checked"}
    assert rows(out, "west") == [("K1", "R01", "0", "Lúa A ĐỔI TÊN")]
    assert resume_and_compare(master.iloc[::-1].reset_index(drop=True), "fresh3")["west"] == "checked"
    assert rows(out, "west") == [("K1", "R01", "2", "Lúa A ĐỔI TÊN")]
