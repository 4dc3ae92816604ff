"""The Kiên Giang profile and its default rules table (read here with the csv module only)."""

from __future__ import annotations

import csv

import pytest
from pyproj import CRS

from kgspatial.errors import InputError
from kgspatial.profile import available_profiles, detect_field, load_profile, load_profile_file
from kgspatial.taxonomy import Taxonomy

VERDICTS = {"compatible", "conditional", "conflict"}
SEVERITIES = {"high", "medium", "low"}


@pytest.fixture(scope="module")
def profile():
    return load_profile("kien-giang")


@pytest.fixture(scope="module")
def tax(profile):
    return profile.load_taxonomy()


@pytest.fixture(scope="module")
def rules(profile):
    with open(profile.rules, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_loads_kien_giang(profile):
    assert profile.name == "kien-giang"
    assert "Kiên Giang" in profile.title
    assert "1289/QĐ-TTg" in profile.master_plan
    assert profile.rules.is_file() and profile.taxonomy.is_file() and profile.aliases.is_file()
    assert {"MA_QH", "MaLoaiDat", "KyHieu", "LOAIDAT", "code"} <= set(profile.code_fields)
    assert {"TEN", "TenLoaiDat", "label"} <= set(profile.label_fields)
    assert "kien-giang" in available_profiles()


def test_analysis_crs_is_vn2000_tm3_104_30(profile):
    assert profile.analysis_crs == "EPSG:9207"
    crs = CRS.from_user_input(profile.analysis_crs)
    assert crs.name == "VN-2000 / TM-3 104-30"
    params = {p.name: p.value for p in crs.coordinate_operation.params}
    assert params["Longitude of natural origin"] == pytest.approx(104.5)
    assert params["Scale factor at natural origin"] == pytest.approx(0.9999)


def test_unknown_profile_names_the_available_ones():
    with pytest.raises(InputError, match=r"unknown province profile 'atlantis'; available: .*kien-giang"):
        load_profile("atlantis")
    with pytest.raises(InputError, match="unknown province profile"):
        load_profile("../kien-giang")


def test_bad_profile_lists_every_problem(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "profile.yaml").write_text(
        "name: other\ntitle: Demo\nanalysis_crs: EPSG:4326\nrules: missing.csv\ncode_fields: []\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as exc:
        load_profile("demo", layers_dir=tmp_path)
    message = str(exc.value)
    for part in (
        "missing key 'taxonomy'",
        "missing key 'label_fields'",
        "differs from its folder",
        "not projected",
        "rules: file not found",
        "code_fields: expected a non-empty list",
    ):
        assert part in message
    (folder / "profile.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a readable YAML profile"):
        load_profile_file(folder / "profile.yaml")


def test_detect_field(profile):
    assert detect_field(["OBJECTID", "MaLoaiDat", "MA_QH"], profile.code_fields) == "MA_QH"
    assert profile.detect_code_field(["fid", "maqh"]) == "maqh"
    assert profile.detect_label_field(["fid", "TenLoaiDat"]) == "TenLoaiDat"
    assert profile.detect_code_field(["fid", "area"]) is None


# -- the default rules table -------------------------------------------------------------------


def test_rules_rows_are_well_formed(rules, tax):
    assert list(rules[0]) == ["rule_id", "plan_code", "master_code", "verdict", "severity", "reference", "note"]
    assert len(rules) >= 150
    ids = [r["rule_id"] for r in rules]
    assert len(ids) == len(set(ids))
    pairs = [(r["plan_code"], r["master_code"]) for r in rules]
    assert len(pairs) == len(set(pairs))
    for r in rules:
        for side in ("plan_code", "master_code"):
            assert r[side] == "*" or r[side] in tax, (r["rule_id"], r[side])
        assert r["verdict"] in VERDICTS, r["rule_id"]
        if r["verdict"] == "compatible":
            assert r["severity"] in SEVERITIES | {""}
        else:
            assert r["severity"] in SEVERITIES, r["rule_id"]
            assert r["reference"] and r["note"], r["rule_id"]


def _side_scores(side: str, codes: list[str], tax: Taxonomy, exact_is_code: bool) -> list[int]:
    """CONTRACT §3 side score per code: 2 code, 1 group, 0 `*`, -1 no match.

    Two readings of "a code / a group" are checked: an exact match always scores 2
    (exact_is_code), or a rule naming a group scores 1 even on an exact match.
    """
    out = []
    for code in codes:
        if side == "*":
            out.append(0)
        elif code is None:
            out.append(-1)
        elif side == code:
            out.append(2 if exact_is_code or not tax.is_group(side) else 1)
        elif side in tax.ancestors(code):
            out.append(1)
        else:
            out.append(-1)
    return out


def _resolve(rules, tax, exact_is_code: bool):
    """{(plan, master): winning rule or 'TIE:...'} for every pair of codes (None = unknown value)."""
    codes = list(tax.codes) + [None]
    plan = [_side_scores(r["plan_code"], codes, tax, exact_is_code) for r in rules]
    master = [_side_scores(r["master_code"], codes, tax, exact_is_code) for r in rules]
    result = {}
    for pi, p in enumerate(codes):
        live = [k for k in range(len(rules)) if plan[k][pi] >= 0]
        for mi, m in enumerate(codes):
            ranked = [((plan[k][pi] + master[k][mi], plan[k][pi]), k) for k in live if master[k][mi] >= 0]
            if not ranked:
                continue
            best = max(rank for rank, _ in ranked)
            winners = [rules[k] for rank, k in ranked if rank == best]
            result[(p, m)] = winners[0] if len(winners) == 1 else "TIE:" + ",".join(w["rule_id"] for w in winners)
    return result


@pytest.fixture(scope="module")
def resolved(rules, tax):
    return _resolve(rules, tax, exact_is_code=True)


@pytest.mark.parametrize("exact_is_code", [True, False])
def test_rules_have_no_unresolved_ties(rules, tax, exact_is_code):
    table = _resolve(rules, tax, exact_is_code)
    ties = sorted({v for v in table.values() if isinstance(v, str)})
    assert ties == []


def test_every_pair_of_leaf_codes_is_reviewed(resolved, tax):
    leaves = [c for c in tax.codes if not tax.is_group(c)]
    missing = [(p, m) for p in leaves for m in leaves if p != m and (p, m) not in resolved]
    assert missing == []


@pytest.mark.parametrize(
    ("plan", "master", "verdict", "severity"),
    [
        ("ODT", "LUC", "conflict", "high"),
        ("SKK", "LUC", "conflict", "high"),
        ("KCN", "LUC", "conflict", "medium"),
        ("DTL", "LUC", "conditional", "low"),
        ("DGT", "LUC", "conditional", "medium"),
        ("NTS", "LUC", "conditional", "medium"),
        ("LUK", "LUC", "compatible", ""),
        ("ODT", "RDD", "conflict", "high"),
        ("NTS", "RPH", "conflict", "high"),
        (None, "RDD", "conflict", "high"),
        ("RSX", "RDD", "conflict", "high"),
        ("KDL", "RDD", "conditional", "high"),
        ("ODT", "CQP", "conflict", "high"),
        ("LUC", "CAN", "conflict", "high"),
        ("KDL", "CQP", "conflict", "high"),
        (None, "CQP", "conflict", "high"),
        ("CAN", "CQP", "conditional", "medium"),
        ("DGT", "ODT", "compatible", ""),
        ("DGD", "ONT", "compatible", ""),
        ("TMD", "ODT", "conditional", "low"),
        ("DRA", "ODT", "conflict", "high"),
        ("ODT", "SKK", "conflict", "medium"),
        ("KCN", "SKK", "compatible", ""),
        ("ODT", "DGT", "conflict", "medium"),
        ("ODT", "KCN", "conflict", "medium"),
        ("SKK", "KCN", "compatible", ""),
        ("ODT", "HNK", "conditional", "medium"),
    ],
)
def test_key_pairs(resolved, plan, master, verdict, severity):
    rule = resolved[(plan, master)]
    assert (rule["verdict"], rule["severity"]) == (verdict, severity), rule["rule_id"]


def test_generic_master_codes_stay_unreviewed(resolved):
    # NNP/CHN/PNN on the master side would tie with the LUA/LNP/OCT rows (CONTRACT §3): a master
    # layer that only says "agricultural land" is listed as unreviewed for a person to look at.
    assert ("ODT", "NNP") not in resolved
    assert (None, "LUC") not in resolved  # an unknown plan code on rice land: not guessed
