"""Legacy Vietnamese encodings: tables, detection, repair and tone-mark normalisation."""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import subprocess
import unicodedata

import pandas as pd
import pytest

from kgspatial import textcodec as tc
from kgspatial.errors import EncodingError

# The 67 lowercase Vietnamese letters outside ASCII, typed by hand (not built by the module).
LOWER = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ"
PANGRAM = LOWER + LOWER.upper()
LAND_USE = ["Đất ở tại đô thị", "Đất rừng phòng hộ", "Đất nuôi trồng thủy sản", "Đất quốc phòng"]


def as_gdal_read(text: str, encoding: str) -> str:
    """What GDAL hands back for `text` stored in `encoding` and read as Latin-1."""
    return text.encode(encoding).decode("latin-1")


def cp1258_bytes(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letter, then a combining tone."""
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        tones = "".join(p for p in parts if p in tc.TONE_MARKS)
        base = "".join(p for p in parts if p not in tones)
        out.append(unicodedata.normalize("NFC", base) + tones)
    return "".join(out).encode("cp1258")


def test_pangram_has_all_134_letters():
    assert len(set(PANGRAM)) == 134


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_pangram_round_trips(encoding):
    assert PANGRAM.encode(encoding).decode(encoding) == PANGRAM
    nfd = unicodedata.normalize("NFD", PANGRAM)
    assert nfd.encode(encoding) == PANGRAM.encode(encoding)


@pytest.mark.parametrize("alias", ["TCVN3", "abc", "tcvn", "tcvn5712", "tcvn-3", "VNI", "vni-windows", "VNI_Windows"])
def test_aliases_are_registered(alias):
    assert codecs.lookup(alias).name in {"tcvn3", "vni"}


def test_tcvn3_known_mojibake_and_vn3_uppercase():
    assert "§Êt trång lóa".encode("latin-1").decode("tcvn3") == "Đất trồng lúa"
    assert bytes(range(0xA1, 0xA8)).decode("tcvn3") == "ĂÂÊÔƠƯĐ"
    assert bytes(range(0xA8, 0xAF)).decode("tcvn3") == "ăâêôơưđ"
    # 0xB0-0xB4 are combining tone marks; decoding composes them (NFC).
    assert b"a\xb3 o\xb4".decode("tcvn3") == "á ọ"


def test_tcvn3_table_matches_glibc_charmap():
    if shutil.which("iconv") is None:
        pytest.skip("iconv not installed")
    data = bytes(b for b in range(1, 256) if b != 0x0A)
    proc = subprocess.run(
        ["iconv", "-f", "TCVN5712-1", "-t", "UTF-8"],
        input=b"".join(bytes((b,)) + b"\n" for b in data),
        capture_output=True,
    )
    if proc.returncode != 0:
        pytest.skip("this iconv has no TCVN5712-1")
    theirs = proc.stdout.decode("utf-8").split("\n")[:-1]
    assert [tc._TCVN_DECODE[b] for b in data] == theirs


def test_vni_known_forms():
    # Sequences of the VNI-Windows layout (xvnkb vni.h), lower and upper case.
    cases = {
        "ñöôøng": "đường",
        "ÑÖÔØNG": "ĐƯỜNG",
        "Vieät Nam": "Việt Nam",
        "Tænh Kieân Giang": "Tỉnh Kiên Giang",
        "Myõ Thuaän": "Mỹ Thuận",
        "ñaéc khu": "đắc khu",
        "AÊN ÔÛ": "ĂN Ở",
        "M\xee \xce": "Mỵ Ỵ",  # y with dot below is one byte
    }
    for legacy, text in cases.items():
        assert legacy.encode("latin-1").decode("vni") == text
        assert text.encode("vni") == legacy.encode("latin-1")


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_unencodable_respects_errors(encoding):
    with pytest.raises(UnicodeEncodeError):
        "Đất ä".encode(encoding)
    assert "Đất ä".encode(encoding, "replace").endswith(b"?")
    assert "Đất ä".encode(encoding, "ignore").decode(encoding) == "Đất "


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_streams_and_incremental(encoding):
    text = "Đất nuôi trồng thủy sản; ĐẤT Ở\n" * 20
    raw = text.encode(encoding)
    assert io.TextIOWrapper(io.BytesIO(raw), encoding=encoding).read() == text
    dec = codecs.getincrementaldecoder(encoding)()
    pieces = [dec.decode(raw[i : i + 1]) for i in range(len(raw))]
    assert "".join(pieces) + dec.decode(b"", final=True) == text
    enc = codecs.getincrementalencoder(encoding)()
    nfd = unicodedata.normalize("NFD", text)
    assert b"".join(enc.encode(c) for c in nfd) + enc.encode("", final=True) == raw


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_fix_strings_detects_and_restores(encoding):
    values = [as_gdal_read(v, encoding) for v in LAND_USE] + [None, "LUA"]
    fixed, used = tc.fix_strings(values)
    assert used == encoding
    assert fixed == LAND_USE + [None, "LUA"]
    for name in LAND_USE:  # one value is enough evidence
        assert tc.fix_strings([as_gdal_read(name, encoding)]) == ([name], encoding)


def test_fix_strings_cp1258_and_utf8():
    values = [cp1258_bytes(v).decode("latin-1") for v in LAND_USE]
    assert tc.fix_strings(values) == (LAND_USE, "cp1258")
    values = [v.encode("utf-8").decode("latin-1") for v in LAND_USE]
    assert tc.fix_strings(values) == (LAND_USE, "utf-8")


def test_short_samples():
    assert tc.guess_encoding([b"\xa7\xcat \xeb"]) == "tcvn3"  # "§Êt ë"
    assert tc.fix_strings(["§Êt ë"]) == (["Đất ở"], "tcvn3")
    assert tc.guess_encoding([b"LUA"]) == "ascii"
    assert tc.guess_encoding([]) == "ascii"
    assert tc.fix_strings(["LUA", None, "ODT"]) == (["LUA", None, "ODT"], "ascii")


def test_genuine_text_is_not_misdetected():
    assert tc.guess_encoding(["Đất trồng lúa".encode("utf-8"), b"LUA"]) == "utf-8"
    assert tc.guess_encoding(["Forêt domaniale".encode("utf-8")]) == "utf-8"
    assert tc.guess_encoding([b"Paddy field", b"Rural residential land"]) == "ascii"
    french = [
        "Forêt domaniale",
        "Réserve naturelle",
        "Hôtel de ville",
        "Château d'eau",
        "Le lieu où il habite",
        "« Zone humide »",
        "Île-de-France",
        "Grünfläche",
        "São Paulo",
    ]
    assert tc.guess_encoding([s.encode("latin-1") for s in french]) == "latin-1"
    for s in french:
        assert tc.guess_encoding([s.encode("latin-1")]) == "latin-1", s
    assert tc.fix_strings(french) == (french, "latin-1")


def test_real_unicode_and_cp1252_values():
    # Characters above U+00FF that cp1252 does not explain: real Unicode, only NFC-normalised.
    nfd = unicodedata.normalize("NFD", "Đất ở")
    vni = as_gdal_read("Đất ở", "vni")
    assert tc.fix_strings([nfd, vni]) == (["Đất ở", "Đất ở"], "vni")
    # A value GDAL decoded as cp1252 ("€" for 0x80) maps back to its bytes.
    assert tc.fix_strings(["Gi\u00e1 5\u20ac"]) == (["Giá 5€"], "latin-1")
    assert tc.fix_strings(["Khu A \u2013 Ñaát"]) == (["Khu A – Đất"], "vni")


def test_declared_encoding_overrides():
    legacy = as_gdal_read("Đất ở", "tcvn3")
    assert tc.fix_strings([legacy], declared="latin-1") == ([legacy], "latin-1")
    vni = as_gdal_read("Đất ở", "vni")
    assert tc.fix_strings([vni], declared="VNI-Windows") == (["Đất ở"], "vni")
    assert tc.fix_strings([legacy], declared="ABC") == (["Đất ở"], "tcvn3")
    with pytest.raises(EncodingError):
        tc.fix_strings(["Ca\xe0"], declared="utf-8")
    with pytest.raises(EncodingError):
        tc.fix_strings(["x"], declared="no-such-encoding")


def test_decode_columns_uses_one_encoding_and_keeps_geometry():
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import Point

    gdf = gpd.GeoDataFrame(
        {
            "MA": ["ODT", "RPH", "NTS"],
            "TEN": [as_gdal_read(v, "vni") for v in LAND_USE[:2]] + [None],
            "GHI_CHU": [as_gdal_read("Bình", "vni"), "", as_gdal_read("Hòn Đất", "vni")],
            "n": [1, 2, 3],
        },
        geometry=[Point(0, 0), Point(1, 1), Point(2, 2)],
        crs=4326,
    )
    out, used = tc.decode_columns(gdf)
    assert used == "vni"
    assert out["TEN"].tolist()[:2] == LAND_USE[:2] and pd.isna(out["TEN"].iloc[2])
    assert out["GHI_CHU"].tolist() == ["Bình", "", "Hòn Đất"]
    assert out["n"].tolist() == [1, 2, 3]
    assert out.geometry.equals(gdf.geometry) and out.crs == gdf.crs
    assert gdf["TEN"].iloc[0] == as_gdal_read(LAND_USE[0], "vni")  # input untouched

    plain = pd.DataFrame({"a": ["LUA"]})
    assert tc.decode_columns(plain) == (plain, "ascii")
    out, used = tc.decode_columns(pd.DataFrame({"a": ["§Êt ë"]}), declared="tcvn3")
    assert (out["a"].tolist(), used) == (["Đất ở"], "tcvn3")


def test_tone_mark_normalisation():
    norm = tc.normalise_vietnamese
    assert norm("Hoà Điền") == norm("Hòa Điền") == "Hòa Điền"
    assert norm("HOÀ BÌNH") == "HÒA BÌNH"
    assert norm("Thuỵ") == "Thụy" and norm("khoẻ") == "khỏe" and norm("Hoá") == "Hóa"
    # Closed syllables and shaped vowels have one placement only: unchanged.
    for word in ("hoàn", "Huỳnh", "người", "Quý", "chuyện", "ngoài", "Giồng Riềng", "Café"):
        assert norm(word) == word
    assert norm(unicodedata.normalize("NFD", "Hoà")) == "Hòa"


def test_syllable_check():
    for word in ("Đất", "trồng", "lúa", "nghiêng", "quốc", "gìn", "khuỷu", "Hoà", "Hòa"):
        assert tc.is_vietnamese_syllable(word), word
    for word in ("§Êt", "trång", "Xaõ", "thuûy", "Forêt", "Hôtel", "êt", "hoàa"):
        assert not tc.is_vietnamese_syllable(word), word


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_real_commune_names_round_trip(shared_data, encoding):
    with open(shared_data / "onflow_legacy_units_kg_ag.csv", encoding="utf-8", newline="") as fh:
        wards = [row["ward"] for row in csv.DictReader(fh)]
    assert len(wards) > 250
    fixed, used = tc.fix_strings([as_gdal_read(w, encoding) for w in wards])
    assert used == encoding
    assert fixed == [unicodedata.normalize("NFC", w) for w in wards]
    for ward in wards:  # each name alone, as a one-feature layer would have it
        alone, _ = tc.fix_strings([as_gdal_read(ward, encoding)])
        assert alone == [unicodedata.normalize("NFC", ward)]
