"""kgspatial.registry.check_plan_entry: one plan validated as a registry's (the service's uploads
and edits), every problem at once, links among the plans given."""

from __future__ import annotations

import datetime as dt

import pytest

from kgspatial.errors import RegistryError
from kgspatial.registry import PlanEntry, check_plan_entry

BASE = {
    "name": "Quy hoạch phân khu",
    "type": "urban_zoning",
    "path": "qh.gpkg",
    "code_field": None,
    "label_field": None,
}


def _plan(pid, **keys) -> PlanEntry:
    return PlanEntry(id=pid, **BASE, **keys)


def test_a_valid_entry_comes_back_typed():
    entry = check_plan_entry(
        {"id": "c", **BASE, "approved": "10/05/2019", "horizon": "2030", "integrated": "true", "parent": "a"},
        [_plan("a")],
    )
    assert (entry.approved, entry.horizon, entry.integrated, entry.parent) == (dt.date(2019, 5, 10), 2030, True, "a")


def test_every_problem_at_once_links_included():
    others = [_plan("a", parent="b"), _plan("b"), _plan("x", superseded_by="gone")]  # x's own problem is not ours
    with pytest.raises(RegistryError) as err:
        check_plan_entry(
            {"id": "b", **BASE, "parent": "a", "horizon": 3000, "approved": "30/02/2021", "superseded_by": "zz"},
            others,
            source="plan",
        )
    assert sorted(err.value.problems) == sorted(
        [
            "approved: '30/02/2021' is not a date (day/month/year)",
            "horizon: 3000 is not a plan's last year (e.g. 2030) (got 3000)",
            "superseded_by: no plan with id 'zz'",
            "parents form a cycle (a -> b -> a)",
        ]
    )
    assert str(err.value).startswith("plan: 4 lỗi / 4 problem(s): ")


def test_a_plan_cannot_name_itself_and_others_loops_are_not_its_problem():
    with pytest.raises(RegistryError) as err:
        check_plan_entry({"id": "b", **BASE, "parent": "b"}, [_plan("b")])
    assert err.value.problems == ["parent: a plan cannot name itself"]
    # a and d loop between themselves; c only names a: c is not refused for their loop.
    entry = check_plan_entry({"id": "c", **BASE, "parent": "a"}, [_plan("a", parent="d"), _plan("d", parent="a")])
    assert entry.parent == "a"
