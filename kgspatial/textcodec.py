"""Legacy Vietnamese text encodings: codecs, detection and repair of mojibake.

Old Vietnamese shapefiles carry text in TCVN3 (ABC) or VNI-Windows with no .cpg, so GDAL reads
them as Latin-1 and users see "§Êt trång lóa" for "Đất trồng lúa".  No package decodes these, so
this module registers two Python codecs on import and guesses which encoding a column used:

- ``tcvn3`` (aliases ``abc``, ``tcvn``, ``tcvn5712``): TCVN 5712:1993.  Its VN3 table (the ABC
  fonts .VnTime etc.) holds the lowercase letters with tones and Ă Â Ê Ô Ơ Ư Đ in 0xA1-0xFE.
  Uppercase letters with tones are not in VN3 (ABC users switched to the uppercase ".VnTimeH"
  fonts, which reuse the lowercase codes); the codec gives them their codes from the same
  standard's full VN1 table, so every Vietnamese letter round-trips and VN3 text decodes exactly.
- ``vni`` (alias ``vni-windows``): the VNI-Windows font encoding, a base letter followed by a
  diacritic byte ("á" = b"a\\xf9"), with a few precomposed single bytes (ơ ư đ, i with tones, ỵ).

Decoding returns NFC text.  Encoding accepts NFC or NFD text.
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .errors import EncodingError

__all__ = [
    "decode_columns",
    "fix_strings",
    "guess_encoding",
    "is_vietnamese_syllable",
    "normalise_vietnamese",
    "tcvn3_decode",
    "tcvn3_encode",
    "vni_decode",
    "vni_encode",
]

# Tone marks as combining characters (Unicode 15, chapter 7.1 "Vietnamese").
GRAVE, ACUTE, TILDE, HOOK, DOT = "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"
TONE_MARKS = (GRAVE, ACUTE, TILDE, HOOK, DOT)
_SHAPE_MARKS = "\u0302\u0306\u031b"  # circumflex, breve, horn (part of the letter, not the tone)


# --------------------------------------------------------------------------------------------
# TCVN3 / TCVN 5712:1993
# --------------------------------------------------------------------------------------------
# Byte -> character, 0x80-0xFF, from TCVN 5712:1993 table VN1 as published in glibc's charmap
# TCVN5712-1 (localedata/charmaps/TCVN5712-1) and XFree86's lcUniConv/tcvn.h; the VN3 (ABC)
# subset is 0xA1-0xAE (Ă Â Ê Ô Ơ Ư Đ ă â ê ô ơ ư đ) and the lowercase letters with tones in
# 0xB5-0xFE.  0xB0-0xB4 are the five combining tone marks.  Checked byte by byte against
# `iconv -f TCVN5712-1` in tests/test_textcodec.py where iconv offers that charset.
_TCVN_HIGH = (
    "ÀẢÃÁẠẶẬÈẺẼÉẸỆÌỈĨ"  # 0x80
    "ÍỊÒỎÕÓỌỘỜỞỠỚỢÙỦŨ"  # 0x90
    "\u00a0ĂÂÊÔƠƯĐăâêôơưđẰ"  # 0xA0
    "\u0300\u0309\u0303\u0301\u0323àảãáạẲằẳẵắẴ"  # 0xB0
    "ẮẦẨẪẤỀặầẩẫấậèỂẻẽ"  # 0xC0
    "éẹềểễếệìỉỄẾỒĩíịò"  # 0xD0
    "Ổỏõóọồổỗốộờởỡớợù"  # 0xE0
    "ỖủũúụừửữứựỳỷỹýỵỐ"  # 0xF0
)
# VN1 also puts twelve uppercase letters on C0 control codes (same sources).
_TCVN_LOW = {
    0x01: "Ú",
    0x02: "Ụ",
    0x04: "Ừ",
    0x05: "Ử",
    0x06: "Ữ",
    0x11: "Ứ",
    0x12: "Ự",
    0x13: "Ỳ",
    0x14: "Ỷ",
    0x15: "Ỹ",
    0x16: "Ý",
    0x17: "Ỵ",
}
assert len(_TCVN_HIGH) == 128

_TCVN_DECODE: list[str] = [_TCVN_LOW.get(b, chr(b)) for b in range(128)] + list(_TCVN_HIGH)
_TCVN_ENCODE: dict[str, int] = {ch: b for b, ch in enumerate(_TCVN_DECODE)}
_TCVN_COMBINING = frozenset(range(0xB0, 0xB5))


def tcvn3_decode(data: bytes | bytearray | memoryview, errors: str = "strict") -> str:
    """Decode TCVN 5712 bytes to NFC text (every byte is defined, so `errors` is never used)."""
    return unicodedata.normalize("NFC", "".join(_TCVN_DECODE[b] for b in bytes(data)))


def _tcvn_char(ch: str) -> bytes | None:
    """Bytes for one NFC character, or None: precomposed code first, else base + tone mark."""
    b = _TCVN_ENCODE.get(ch)
    if b is not None:
        return bytes((b,))
    parts = unicodedata.normalize("NFD", ch)
    if parts == ch:
        return None
    out = bytearray()
    # Recompose the base without its tone ("ǹ" -> "n" + grave) so shaped letters stay whole.
    base = unicodedata.normalize("NFC", "".join(p for p in parts if p not in TONE_MARKS))
    for piece in [base] + [p for p in parts if p in TONE_MARKS]:
        for c in piece:
            code = _TCVN_ENCODE.get(c)
            if code is None:
                return None
            out.append(code)
    return bytes(out)


def tcvn3_encode(text: str, errors: str = "strict") -> bytes:
    """Encode text (NFC or NFD) to TCVN 5712 bytes; unencodable characters go to `errors`."""
    return _encode_with(text, errors, "tcvn3", _tcvn_char)


# --------------------------------------------------------------------------------------------
# VNI-Windows
# --------------------------------------------------------------------------------------------
# From the VNI-Windows font layout as used by the VNI input software and listed in xvnkb's
# vni.h (Dao Hai Lam, 2002): a vowel is followed by one mark byte.  Lowercase mark bytes:
# acute 0xF9 ù, grave 0xF8 ø, hook 0xFB û, tilde 0xF5 õ, dot 0xEF ï; circumflex + tone on a/e/o
# 0xE2 â (none) 0xE1 á 0xE0 à 0xE5 å 0xE3 ã 0xE4 ä; breve + tone on a 0xEA ê (none) 0xE9 é
# 0xE8 è 0xFA ú 0xFC ü 0xEB ë.  Single bytes: ơ 0xF4 ô, ư 0xF6 ö (both then take tone bytes),
# đ 0xF1 ñ, í 0xED, ì 0xEC, ỉ 0xE6 æ, ĩ 0xF3 ó, ị 0xF2 ò, ỵ 0xEE î (y + dot is one byte).
# Uppercase forms use the uppercase letter and each non-ASCII byte minus 0x20 (Ù Ø Û Õ Ï, Â Á À
# Å Ã Ä, Ê É È Ú Ü Ë, Ô Ö Ñ Í Ì Æ Ó Ò Î), exactly as in vni.h.
_VNI_TONE = {"": "", ACUTE: "\xf9", GRAVE: "\xf8", HOOK: "\xfb", TILDE: "\xf5", DOT: "\xef"}
_VNI_CIRCUMFLEX = {"": "\xe2", ACUTE: "\xe1", GRAVE: "\xe0", HOOK: "\xe5", TILDE: "\xe3", DOT: "\xe4"}
_VNI_BREVE = {"": "\xea", ACUTE: "\xe9", GRAVE: "\xe8", HOOK: "\xfa", TILDE: "\xfc", DOT: "\xeb"}
_VNI_I = {"": "i", ACUTE: "\xed", GRAVE: "\xec", HOOK: "\xe6", TILDE: "\xf3", DOT: "\xf2"}


def _build_vni() -> dict[str, str]:
    """Unicode letter -> VNI byte string (as Latin-1 text), lower and upper case."""
    table: dict[str, str] = {}
    for tone in _VNI_TONE:
        for base in "aeou":
            table[base + tone] = base + _VNI_TONE[tone]
        table["y" + tone] = "\xee" if tone == DOT else "y" + _VNI_TONE[tone]
        table["i" + tone] = _VNI_I[tone]
        for base in "aeo":
            table[base + "\u0302" + tone] = base + _VNI_CIRCUMFLEX[tone]
        table["a\u0306" + tone] = "a" + _VNI_BREVE[tone]
        table["o\u031b" + tone] = "\xf4" + _VNI_TONE[tone]
        table["u\u031b" + tone] = "\xf6" + _VNI_TONE[tone]
    table["đ"] = "\xf1"
    out: dict[str, str] = {}
    for key, code in table.items():
        letter = unicodedata.normalize("NFC", key)
        upper_code = "".join(c.upper() if c < "\x80" else chr(ord(c) - 0x20) for c in code)
        out[letter] = code
        out[letter.upper()] = upper_code
    return out


_VNI_ENCODE = {k: v for k, v in _build_vni().items() if not k.isascii()}
_VNI_DECODE2 = {v: k for k, v in _VNI_ENCODE.items() if len(v) == 2}
_VNI_DECODE1 = {v: k for k, v in _VNI_ENCODE.items() if len(v) == 1}
_VNI_SPECIAL = frozenset(c for v in _VNI_ENCODE.values() for c in v if c >= "\x80")
_VNI_BASES = frozenset(v[0] for v in _VNI_DECODE2)


def _cp1252_or_latin1(b: int) -> str:
    """Windows fonts show 0x80-0x9F as cp1252 punctuation; other bytes as Latin-1."""
    try:
        return bytes((b,)).decode("cp1252")
    except UnicodeDecodeError:
        return chr(b)


_PASSTHROUGH = [_cp1252_or_latin1(b) for b in range(256)]
_VNI_PASS_ENCODE = {ch: b for b, ch in enumerate(_PASSTHROUGH) if chr(b) not in _VNI_SPECIAL and ch not in _VNI_ENCODE}


def vni_decode(data: bytes | bytearray | memoryview, errors: str = "strict") -> str:
    """Decode VNI-Windows bytes to NFC text; bytes outside a letter pass through as cp1252."""
    text = bytes(data).decode("latin-1")
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        pair = text[i : i + 2]
        if len(pair) == 2 and pair in _VNI_DECODE2:
            out.append(_VNI_DECODE2[pair])
            i += 2
            continue
        ch = text[i]
        out.append(_VNI_DECODE1.get(ch) or _PASSTHROUGH[ord(ch)])
        i += 1
    return unicodedata.normalize("NFC", "".join(out))


def _vni_char(ch: str) -> bytes | None:
    code = _VNI_ENCODE.get(ch)
    if code is not None:
        return code.encode("latin-1")
    b = _VNI_PASS_ENCODE.get(ch)
    return None if b is None else bytes((b,))


def vni_encode(text: str, errors: str = "strict") -> bytes:
    """Encode text (NFC or NFD) to VNI-Windows bytes; unencodable characters go to `errors`."""
    return _encode_with(text, errors, "vni", _vni_char)


# --------------------------------------------------------------------------------------------
# Codec plumbing
# --------------------------------------------------------------------------------------------
def _encode_with(text: str, errors: str, name: str, one) -> bytes:
    """Encode NFC(text) char by char, handing unencodable runs to the registered error handler.

    Positions in the UnicodeEncodeError refer to the NFC form of the input.
    """
    text = unicodedata.normalize("NFC", text)
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        code = one(text[i])
        if code is not None:
            out += code
            i += 1
            continue
        j = i + 1
        while j < n and one(text[j]) is None:
            j += 1
        exc = UnicodeEncodeError(name, text, i, j, "character maps to <undefined>")
        replacement, pos = codecs.lookup_error(errors)(exc)
        if isinstance(replacement, str):
            for c in replacement:
                code = one(c)
                if code is None:
                    raise exc
                out += code
        else:
            out += replacement
        i = pos if pos >= 0 else n + pos
    return bytes(out)


def _held_back_decoder(decode, holds):
    class IncrementalDecoder(codecs.BufferedIncrementalDecoder):
        """Keeps back a trailing byte that may combine with the next chunk."""

        def _buffer_decode(self, data, errors, final):
            data = bytes(data)
            keep = 0 if final else holds(data)
            return decode(data[: len(data) - keep], errors), len(data) - keep

    return IncrementalDecoder


def _tcvn_hold(data: bytes) -> int:
    """Bytes to keep back: the last base byte and the tone marks after it (NFC across chunks)."""
    k = len(data)
    while k > 0 and data[k - 1] in _TCVN_COMBINING:
        k -= 1
    return len(data) - max(k - 1, 0)


def _vni_hold(data: bytes) -> int:
    return 1 if data and chr(data[-1]) in _VNI_BASES else 0


def _held_back_encoder(encode):
    class IncrementalEncoder(codecs.BufferedIncrementalEncoder):
        """Keeps back the last character so a combining mark in the next chunk can join it."""

        def _buffer_encode(self, text, errors, final):
            keep = 0
            if not final and text:
                keep = len(text)
                while keep > 0 and unicodedata.combining(text[keep - 1]):
                    keep -= 1
                keep = len(text) - max(keep - 1, 0)
            return encode(text[: len(text) - keep], errors), len(text) - keep

    return IncrementalEncoder


def _codec_info(name: str, encode, decode, hold) -> codecs.CodecInfo:
    def enc(text, errors="strict"):
        return encode(text, errors), len(text)

    def dec(data, errors="strict"):
        return decode(data, errors), len(data)

    class StreamWriter(codecs.StreamWriter):
        def encode(self, text, errors="strict"):
            return enc(text, errors)

    class StreamReader(codecs.StreamReader):
        def decode(self, data, errors="strict"):
            return dec(data, errors)

    return codecs.CodecInfo(
        name=name,
        encode=enc,
        decode=dec,
        incrementalencoder=_held_back_encoder(encode),
        incrementaldecoder=_held_back_decoder(decode, hold),
        streamwriter=StreamWriter,
        streamreader=StreamReader,
    )


_CODECS = {
    "tcvn3": _codec_info("tcvn3", tcvn3_encode, tcvn3_decode, _tcvn_hold),
    "vni": _codec_info("vni", vni_encode, vni_decode, _vni_hold),
}
_ALIASES = {
    "tcvn3": "tcvn3",
    "abc": "tcvn3",
    "tcvn": "tcvn3",
    "tcvn5712": "tcvn3",
    "vni": "vni",
    "vniwindows": "vni",
}


def _search(name: str) -> codecs.CodecInfo | None:
    key = re.sub(r"[-_ .]", "", name.lower())
    target = _ALIASES.get(key)
    return _CODECS[target] if target else None


codecs.register(_search)


# --------------------------------------------------------------------------------------------
# How Vietnamese does a word look?
# --------------------------------------------------------------------------------------------
_ONSET = r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvx])?"
# Rhymes (vowel group + final consonant) of Vietnamese spelling, tone marks removed.
_OPEN_ONLY = (
    "ai ao au ay âu ây eo êu ia iu oi ôi ơi ua ui ưa ưi ưu iêu yêu ươi ươu uôi oai oay oao oeo uây uya uyu"
).split()
_OPEN_OR_CLOSED = "a e ê i o ô ơ u ư y oa oe uê uy uơ".split()
_CLOSED_ONLY = "ă â iê yê uô ươ oă uâ uyê oo".split()
_FINALS_CH_NH = {"a", "ê", "i", "oa", "uê", "uy"}
_FINALS_C_NG = {"a", "ă", "â", "e", "o", "ô", "u", "ư", "iê", "uô", "ươ", "oa", "oă", "uâ", "oo"}


def _rhymes() -> str:
    rhymes = set(_OPEN_ONLY) | set(_OPEN_OR_CLOSED)
    for v in _OPEN_OR_CLOSED + _CLOSED_ONLY:
        if v == "oo":
            rhymes |= {"ooc", "oong"}
            continue
        if v != "y":
            rhymes |= {v + f for f in ("m", "n", "p", "t")}
        if v in _FINALS_CH_NH:
            rhymes |= {v + "ch", v + "nh"}
        if v in _FINALS_C_NG:
            rhymes |= {v + "c", v + "ng"}
    return "|".join(sorted(rhymes, key=len, reverse=True))


_SYLLABLE = re.compile(rf"({_ONSET})({_rhymes()})", re.IGNORECASE)
_VOWELS = "aăâeêioôơuưy"


class _Syllable(NamedTuple):
    bare: str  # NFC, tone removed, case kept
    tone: str | None  # the combining tone mark
    tone_at: int  # index in `bare` of the letter carrying the tone, -1 without one
    start: int  # vowel group is bare[start:end]
    end: int


@functools.lru_cache(maxsize=65536)
def _parse(word: str) -> _Syllable | None:
    """Split a word spelled like one Vietnamese syllable; None when it is not one."""
    nfc = unicodedata.normalize("NFC", word)
    nfd = unicodedata.normalize("NFD", nfc)
    tones = [c for c in nfd if c in TONE_MARKS]
    if len(tones) > 1:
        return None
    bare = unicodedata.normalize("NFC", "".join(c for c in nfd if c not in TONE_MARKS))
    low = bare.lower()
    if len(bare) != len(nfc) or len(low) != len(bare):
        return None
    m = _SYLLABLE.fullmatch(low)
    if m is None:
        return None
    tone_at = -1
    if tones:
        diff = [i for i, (a, b) in enumerate(zip(nfc, bare)) if a != b]
        if len(diff) != 1 or low[diff[0]] not in _VOWELS:
            return None
        tone_at = diff[0]
    start = end = len(m.group(1))
    while end < len(low) and low[end] in _VOWELS:
        end += 1
    return _Syllable(bare, tones[0] if tones else None, tone_at, start, end)


@functools.lru_cache(maxsize=65536)
def is_vietnamese_syllable(word: str) -> bool:
    """True when `word` is spelled like one Vietnamese syllable.

    Checks the onset and rhyme, one tone at most, the tone on the vowel where either the
    traditional or the newer rule puts it, and only the acute or dot below on -c/-ch/-p/-t.
    """
    syl = _parse(word)
    if syl is None:
        return False
    if syl.tone is None:
        return not syl.bare.lower().endswith(("c", "ch", "p", "t"))
    if syl.bare.lower().endswith(("c", "ch", "p", "t")) and syl.tone not in (ACUTE, DOT):
        return False
    cluster = syl.bare[syl.start : syl.end].lower()
    closed = syl.end < len(syl.bare)
    allowed = {_tone_index(cluster, closed), _tone_index(cluster, closed, new_style=True)}
    return syl.tone_at - syl.start in allowed


# Tokens: runs of letters, combining marks and the Latin-1 symbols and C1 controls that legacy
# bytes turn into, so that mojibake inside a word ("t¹i", "®«") stays in the token and fails it.
_TOKEN = re.compile(r"(?:[^\W\d_]|[\u0080-\u00bf\u00d7\u00f7\u0300-\u036f])+")


# Preference on equal scores: the identity reading first, then the legacy encodings most
# common in southern Vietnamese GIS data.
_CANDIDATES = ("latin-1", "vni", "tcvn3", "cp1258")
_MIN_VALID_SHARE = 0.6  # of all tokens in the non-ASCII samples, for a legacy reading to win
_MAX_SAMPLES = 20000
# Bytes 0x00-0x7F that are letters in TCVN 5712 VN1 rather than plain ASCII.
_TCVN_LOW_BYTES = frozenset(_TCVN_LOW)
# cp1252 punctuation (€ ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ Ž ‘ ’ “ ” • – — ˜ ™ š › œ ž Ÿ) -> its byte.
_CP1252_BACK = {ch: b for b, ch in enumerate(_PASSTHROUGH) if ord(ch) > 0xFF}


def _score(texts: Iterable[str]) -> tuple[int, float]:
    """(valid minus invalid non-ASCII tokens, share of valid tokens) of a candidate reading."""
    net = valid = total = 0
    for text in texts:
        for token in _TOKEN.findall(text):
            if len(token) == 1:
                continue  # "B" in "Xã Long Điền B", "ở", "À": too little to tell
            ok = is_vietnamese_syllable(token)
            total += 1
            valid += ok
            if not token.isascii():
                net += 1 if ok else -1
    return net, (valid / total if total else 0.0)


def _decode_as(data: bytes, encoding: str, errors: str = "strict") -> str:
    return unicodedata.normalize("NFC", data.decode(encoding, errors))


_C1_AS_CP1252 = {b: _PASSTHROUGH[b] for b in range(0x80, 0xA0)}


def _reading(data: bytes, encoding: str) -> str:
    """A candidate reading for scoring; Latin-1 shows 0x80-0x9F as cp1252 punctuation."""
    if encoding == "latin-1":
        return data.decode("latin-1").translate(_C1_AS_CP1252)
    return _decode_as(data, encoding, "replace")


def _raw_bytes(value: str | bytes) -> bytes | None:
    """The bytes behind a value GDAL read as Latin-1 (or cp1252); None when it is real Unicode."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        pass
    out = bytearray()
    for ch in value:
        if ord(ch) <= 0xFF:
            out.append(ord(ch))
        elif ch in _CP1252_BACK:
            out.append(_CP1252_BACK[ch])
        else:
            return None
    return bytes(out)


def _plain_ascii(data: bytes) -> bool:
    return data.isascii() and not _TCVN_LOW_BYTES.intersection(data)


def guess_encoding(samples: Iterable[bytes]) -> str:
    """Name the encoding of raw text values: ascii, utf-8, tcvn3, vni, cp1258 or latin-1.

    Each legacy reading is scored by how many of its non-ASCII words are spelled like
    Vietnamese syllables; it must beat the Latin-1 reading and leave most words valid, so
    French or English Latin-1 text stays Latin-1.
    """
    distinct: dict[bytes, None] = {}
    for sample in samples:
        if sample is None:
            continue
        data = sample if isinstance(sample, bytes) else _raw_bytes(sample)
        if data and not _plain_ascii(data):
            distinct.setdefault(data, None)
            if len(distinct) >= _MAX_SAMPLES:
                break
    if not distinct:
        return "ascii"
    try:
        for data in distinct:
            data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    scores = {enc: _score(_reading(data, enc) for data in distinct) for enc in _CANDIDATES}
    best = max(_CANDIDATES, key=lambda enc: (scores[enc][0], -_CANDIDATES.index(enc)))
    if best != "latin-1" and (scores[best][0] <= scores["latin-1"][0] or scores[best][1] < _MIN_VALID_SHARE):
        best = "latin-1"
    return best


def canonical_encoding(name: str) -> str:
    """Python's name for a text encoding; EncodingError for an unknown one or a codec that is no text encoding."""
    if not name or len(name) > 64 or not name.isprintable():  # a binary .cpg, a NUL in a form field
        raise EncodingError.say(
            f"{name[:64]!r} không phải là tên bảng mã", f"{name[:64]!r} is not the name of a text encoding"
        )
    try:
        info = codecs.lookup(name)
        "a".encode(name)  # base64, rot13, hex... are codecs but no text encoding
    except (LookupError, ValueError):
        raise EncodingError.say(
            f"không biết bảng mã {name!r} (ví dụ utf-8, tcvn3, vni, cp1258)",
            f"unknown text encoding {name!r} (e.g. utf-8, tcvn3, vni, cp1258)",
        ) from None
    return {"iso8859-1": "latin-1", "us-ascii": "ascii"}.get(info.name, info.name)


def fix_strings(values: Sequence[str | None], declared: str | None = None) -> tuple[list[str | None], str]:
    """Re-decode values GDAL read as Latin-1 with the declared or detected encoding.

    Returns the NFC values and the encoding used.  Values already holding characters above
    U+00FF (real Unicode, not cp1252 punctuation) are only NFC-normalised; None stays None.
    A declared encoding that cannot decode a value raises EncodingError.
    """
    raws = [_raw_bytes(v) if isinstance(v, (str, bytes, bytearray)) else None for v in values]
    if declared:
        encoding = canonical_encoding(declared)
    else:
        encoding = guess_encoding(r for r in raws if r is not None)
    identity = not declared and encoding in ("ascii", "latin-1")
    memo: dict[bytes, str] = {}
    out: list[str | None] = []
    for index, (value, raw) in enumerate(zip(values, raws)):
        if not isinstance(value, (str, bytes, bytearray)):
            out.append(value)
            continue
        if raw is None or identity:
            out.append(unicodedata.normalize("NFC", value) if isinstance(value, str) else value)
            continue
        text = memo.get(raw)
        if text is None:
            try:
                text = _decode_as(raw, encoding)
            except UnicodeDecodeError as exc:
                if declared:
                    shown = raw[:40].decode("latin-1")
                    raise EncodingError.say(
                        f"giá trị văn bản thứ {index + 1} ({shown!r}) không hợp lệ theo {encoding}: {exc.reason}",
                        f"text value {index + 1} ({shown!r}) is not valid {encoding}: {exc.reason}",
                    ) from None
                text = unicodedata.normalize("NFC", raw.decode("latin-1"))
            memo[raw] = text
        out.append(text)
    return out, encoding


def decode_columns(df, declared: str | None = None, names: bool = False):
    """Decode every text column of a (Geo)DataFrame with one encoding detected across all.

    Returns (frame, encoding name).  The geometry column is never touched; the frame is the
    same object when nothing changed, else a copy.  With `names`, non-ASCII column names (a DBF's
    are bytes in the layer's encoding: "MãQH" typed in a TCVN3 font reads "M·QH") join the
    detection and are decoded too, unless two would become one.
    """
    import pandas as pd

    geometry_names = {getattr(df, "_geometry_column_name", None), "geometry"}
    # Work on distinct values: a million-row layer has a few hundred distinct texts.
    distinct: dict[int, list[str]] = {}
    for k in range(df.shape[1]):
        column = df.iloc[:, k]
        if df.columns[k] in geometry_names or getattr(column.dtype, "name", "") == "geometry":
            continue
        if column.dtype != object and not _is_string_dtype(column.dtype):
            continue
        distinct[k] = [v for v in pd.unique(column.dropna()) if isinstance(v, str)]
    odd_names = [c for c in df.columns if names and isinstance(c, str) and not c.isascii()]
    values = [v for vs in distinct.values() for v in vs] + odd_names
    fixed, encoding = fix_strings(values, declared)
    mapping = {old: new for old, new in zip(values, fixed) if old != new}
    renames = {c: mapping[c] for c in odd_names if c in mapping}
    if len(set(renames.values()) | (set(df.columns) - set(renames))) != df.shape[1]:
        renames = {}  # never merge two fields into one name
    if not mapping:
        return df, encoding
    out = df.copy()
    for k, column_values in distinct.items():
        if any(v in mapping for v in column_values):
            column = df.iloc[:, k]
            out.isetitem(k, column.map(lambda v: mapping.get(v, v) if isinstance(v, str) else v).astype(column.dtype))
    return (out.rename(columns=renames) if renames else out), encoding


def _is_string_dtype(dtype) -> bool:
    import pandas as pd

    return isinstance(dtype, pd.StringDtype)


# --------------------------------------------------------------------------------------------
# Tone-mark placement
# --------------------------------------------------------------------------------------------
_WORD = re.compile(r"[^\W\d_]+")


def _tone_index(cluster: str, closed: bool, new_style: bool = False) -> int:
    """Where the traditional spelling (or the newer one) puts the tone in a vowel group.

    Traditional: hòa, thủy, khỏe, hoàn; the newer rule differs only on open oa/oe/uy: hoà.
    """
    if new_style and not closed and cluster in ("oa", "oe", "uy"):
        return 1
    shaped = [i for i, c in enumerate(cluster) if c in "ăâêôơư"]
    if shaped:
        return shaped[-1]  # người, chuyện, tuần
    if len(cluster) == 1:
        return 0
    if closed:
        return len(cluster) - 1  # hoàn, huỳnh, hoạch
    if len(cluster) == 3:
        return 1  # ngoài, khuỷu, ngoẹo
    return 0  # hòa, thủy, khỏe, mùa, mía


def _retone(word: str) -> str:
    syl = _parse(word)
    if syl is None or syl.tone is None:
        return word
    cluster = syl.bare[syl.start : syl.end].lower()
    target = syl.start + _tone_index(cluster, closed=syl.end < len(syl.bare))
    chars = list(syl.bare)
    chars[target] = unicodedata.normalize("NFC", chars[target] + syl.tone)
    return "".join(chars)


def normalise_vietnamese(s: str) -> str:
    """NFC with tone marks placed the traditional way ("Hoà" -> "Hòa", "Thuỵ" -> "Thụy").

    Names of the same commune differ between sources only by where the tone mark sits on
    oa/oe/uy (the newer rule writes "Hoà", official names mostly "Hòa"), so matching keys use
    one placement: the traditional one, on the first vowel of an open oa/oe/uy.  Case is kept;
    words that are not Vietnamese syllables are left alone.
    """
    return _WORD.sub(lambda m: _retone(m.group(0)), unicodedata.normalize("NFC", s))
