"""The bundled land-use taxonomy: normalisation, aliases, the code tree and CSV validation."""

from __future__ import annotations

import re

import pytest

from kgspatial.errors import InputError
from kgspatial.taxonomy import LandUse, Taxonomy, normalise

TOP_GROUPS = {"NNP", "PNN", "CSD", "QHZ"}


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return Taxonomy.load()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (" odt ", "ODT"),
        ("o.d.t", "ODT"),
        ("Odt-01", "ODT"),
        ("ODT1", "ODT"),
        ("ODT.2a", "ODT"),
        ("ODT-A1", "ODT"),
        ("odt\u20132", "ODT"),  # en dash typed by a word processor
        ("luc", "LUC"),
        ("l u c", "LUC"),
        ("OĐT", "ODT"),
        ("đgt", "DGT"),
        ("KCNC-3", "KCNC"),
        ("skk_01", "SKK"),
    ],
)
def test_canonical_spellings(tax, raw, code):
    assert tax.canonical(raw) == code


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("LUN", "LUK"),
        ("BHK", "HNK"),
        ("NHK", "HNK"),
        ("SKT", "SKK"),
        ("DDT", "DDD"),
        ("DDL", "DDD"),
        ("DSH", "DKV"),
        ("DTS", "DSK"),
        ("RSN", "RSX"),
        ("CNC", "KCNC"),
        ("bhk-2", "HNK"),
    ],
)
def test_old_codes_map_to_current(tax, old, new):
    assert tax.canonical(old) == new


@pytest.mark.parametrize("raw", ["", "   ", None, float("nan"), "XYZ", "ODT-TMD", "ODTA1"])
def test_unknown_values_are_none(tax, raw):
    assert tax.canonical(raw) is None


def test_normalise():
    assert normalise("  o.đ_t ") == "ODT"
    assert normalise(12.0) == "12"
    assert normalise(None) == ""


def test_map_values_counts_unknowns(tax):
    codes, unknown = tax.map_values(["ODT", " odt ", "XYZ", "XYZ", None, "lun", "Đất lạ "])
    assert codes == ["ODT", "ODT", None, None, None, "LUK", None]
    assert unknown == {"XYZ": 2, "": 1, "Đất lạ": 1}


def test_ancestors(tax):
    assert tax.ancestors("LUC") == ("LUA", "CHN", "NNP")
    assert tax.ancestors("RDD") == ("LNP", "NNP")
    assert tax.ancestors("ODT") == ("OCT", "PNN")
    assert tax.ancestors("NNP") == ()
    assert tax.is_group("LUA") and not tax.is_group("LUC")
    assert set(tax.descendants("LUA")) == {"LUC", "LUK"}
    assert tax.top_group("KCN") == "QHZ"


def test_sensitive_codes(tax):
    assert {"CQP", "CAN"} <= tax.sensitive_codes
    assert tax.sensitive_codes == {"CQA", "CQP", "CAN"}
    for code in tax.sensitive_codes:
        assert set(tax.descendants(code)) <= tax.sensitive_codes


def test_every_code_has_colour_name_and_source(tax):
    assert len(tax) >= 70
    for entry in tax:
        assert re.fullmatch(r"#[0-9A-F]{6}", entry.color), entry.code
        assert entry.source and entry.name_vi and entry.name_en, entry.code
        assert tax.color(entry.code) == entry.color
    assert tax.name("LUC") == "Đất chuyên trồng lúa"
    assert tax.name("LUC", "en").startswith("Specialised rice")
    assert tax.color("XYZ", default="#000000") == "#000000"
    with pytest.raises(KeyError):
        tax.color("XYZ")


def test_tree_has_no_cycles_and_four_roots(tax):
    for code in tax.codes:
        chain = tax.ancestors(code)
        assert len(chain) == len(set(chain)) and code not in chain
        assert tax.top_group(code) in TOP_GROUPS
    assert {c for c in tax.codes if not tax.ancestors(c)} == TOP_GROUPS


def test_aliases_point_to_codes_and_are_not_codes(tax):
    assert len(tax.aliases) >= 25
    for alias, code in tax.aliases.items():
        assert code in tax and alias not in tax


def test_validation_lists_every_problem(tmp_path):
    bad = tmp_path / "taxonomy.csv"
    bad.write_text(
        "code,name_vi,name_en,group,color,sensitive,source\n"
        "NNP,Nông nghiệp,Agricultural,,#FFFF00,0,test\n"
        "LUA,Lúa,Rice,NNP,#FFFF00,0,test\n"
        "LUA,Lúa lần hai,Rice again,NNP,#FFFF00,0,test\n"  # duplicate
        "XXX,Lạ,Odd,ZZZ,#FFFF00,0,test\n"  # unknown parent
        "AAA,A,A,BBB,#FFFF00,0,test\n"  # cycle AAA -> BBB -> AAA
        "BBB,B,B,AAA,#FFFF00,0,test\n"
        "CLN,Cây lâu năm,Perennial,NNP,yellow,2,\n",  # bad colour, bad flag, no source
        encoding="utf-8",
    )
    aliases = tmp_path / "aliases.csv"
    aliases.write_text("alias,code,source\nOLD,NOPE,test\nLUA,NNP,test\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        Taxonomy.load(bad, aliases)
    problems = exc.value.problems
    text = " | ".join(problems)
    assert "duplicate code LUA" in text
    assert "group ZZZ is not a code" in text
    assert "cycle in groups" in text
    assert "colour 'yellow'" in text
    assert "sensitive '2'" in text
    assert "empty source" in text
    assert "points to 'NOPE'" in text
    assert "alias LUA is itself a taxonomy code" in text
    assert len(problems) == 8
    assert "\n" not in str(exc.value)


def test_missing_file_and_columns(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        Taxonomy.load(tmp_path / "none.csv")
    short = tmp_path / "short.csv"
    short.write_text("code,name_vi\nNNP,x\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column"):
        Taxonomy.load(short)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("Đất trồng lúa", "LUA"),
        ("ĐẤT TRỒNG LÚA", "LUA"),
        ("dat trong lua", "LUA"),  # typed without tone marks
        ("Đất nuôi trồng thuỷ sản", "NTS"),  # old tone placement (thuỷ / thủy)
        ("Đất ở tại đô thị", "ODT"),
        ("Đất ở đô thị", "ODT"),  # short form, from taxonomy_aliases.csv
        ("Đất giao thông", "DGT"),  # Circular 27/2018 name, from taxonomy_aliases.csv
        ("Đất chuyên trồng lúa nước", "LUC"),  # Circular 27/2018 names, from taxonomy_aliases.csv
        ("Đất trồng lúa nước còn lại", "LUK"),
        ("Đất khu vui chơi, giải trí công cộng", "DKV"),
        ("Đất quốc phòng", "CQP"),
        ("Đất ở", "OCT"),  # the residential group's own name: group rules apply
        ("Rice land", "LUA"),
        ("ĐẤT KHU CÔNG NGHIỆP", "SKK"),  # the land-use code...
        ("Khu công nghiệp", "KCN"),  # ...and the planning zone of the same words
        ("Trồng lúa", "LUA"),  # without "đất"
    ],
)
def test_names_stand_for_their_codes(tax, raw, code):
    assert tax.canonical(raw) == code


@pytest.mark.parametrize("raw", ["Đất", "dat", "Lúa", "Đất trồng lúa nước ngọt"])
def test_partial_names_are_not_guessed(tax, raw):
    assert tax.canonical(raw) is None


def test_a_name_two_codes_share_matches_neither():
    nnp = LandUse("NNP", "Nông nghiệp", "Agricultural", None, "#FFFF00", False, "t")
    a = LandUse("AAA", "Đất mía", "Cane", "NNP", "#FFFF00", False, "t")
    b = LandUse("BBB", "Đất mìa", "Other", "NNP", "#FFFF00", False, "t")  # the same once tones go
    small = Taxonomy([nnp, a, b], {"Đất làm muối": "BBB"})
    assert small.canonical("Đất mía") is None and small.canonical("Mía") is None
    assert small.canonical("Cane") == "AAA"
    assert small.canonical("dat lam muoi") == "BBB"


def test_constructor_validates_too():
    nnp = LandUse("NNP", "Nông nghiệp", "Agricultural", None, "#FFFF00", False, "test")
    orphan = LandUse("LUA", "Lúa", "Rice", "CHN", "#FFFF00", False, "test")
    with pytest.raises(InputError, match="group CHN"):
        Taxonomy([nnp, orphan])
    small = Taxonomy([nnp, LandUse("LUA", "Lúa", "Rice", "NNP", "#FFFF00", False, "t")], {"LUN": "LUA"})
    assert small.canonical("lun-2") == "LUA"


def test_layers_dir_from_environment(tmp_path, monkeypatch, tax):
    (tmp_path / "taxonomy.csv").write_text(
        "code,name_vi,name_en,group,color,sensitive,source\nNNP,Nông nghiệp,Agricultural,,#FFFF00,0,test\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KGSPATIAL_LAYERS", str(tmp_path))
    assert Taxonomy.load().codes == ["NNP"]


def test_unquoted_comma_is_a_problem_not_a_silent_cut(tmp_path):
    import pytest as _pytest

    from kgspatial.errors import InputError
    from kgspatial.taxonomy import Taxonomy as _Taxonomy

    path = tmp_path / "taxonomy.csv"
    path.write_text(
        "code,name_vi,name_en,group,color,sensitive,source\n"
        "NNP,Nhóm đất nông nghiệp,Agricultural land,,#FFFF96,0,Land Law 2024\n"
        "LUA,Đất trồng lúa,Rice land,NNP,#FFFF78,0,Circ. 27/2018 ('lúa nước, lúa nương')\n",
        encoding="utf-8",
    )
    with _pytest.raises(InputError, match="row 3: 8 cells for 7 columns"):
        _Taxonomy.load(path)


def test_shipped_taxonomy_reads_with_pandas_too():
    import pandas as pd

    from kgspatial.taxonomy import default_layers_dir

    frame = pd.read_csv(default_layers_dir() / "taxonomy.csv")
    assert list(frame.columns) == ["code", "name_vi", "name_en", "group", "color", "sensitive", "source"]
    assert frame["source"].notna().all()
