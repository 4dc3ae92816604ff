"""Land-use codes (CONTRACT §4): the code tree, old-code aliases and the mapping of raw layer values.

The codes are data (layers/taxonomy.csv, layers/taxonomy_aliases.csv), not code, so that a
province or a new circular changes a spreadsheet, not the program.
"""

from __future__ import annotations

import csv
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

TAXONOMY_FILE = "taxonomy.csv"
ALIASES_FILE = "taxonomy_aliases.csv"
TAXONOMY_COLUMNS = ("code", "name_vi", "name_en", "group", "color", "sensitive", "source")
ALIAS_COLUMNS = ("alias", "code", "source")

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]*$")
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
# A zone number after a code: "ODT-01", "ODT1", "ODT.2a" (dots are gone by then), "ODT-A1".
# A letters-only tail ("ODT-TMD", a mixed-use label) is not a number and is left unknown.
_ZONE_SUFFIX_RE = re.compile(r"^([A-Z]+)(?:-?[0-9][A-Z0-9-]*|-[A-Z]{1,2}[0-9][A-Z0-9-]*)$")
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212"), "-")
_DROPPED = {ord("."): None, ord("_"): None}
NAME_MARK = " "  # alias keys starting with this are name keys (no normalised code has a space)


def default_layers_dir() -> Path:
    """Where the bundled data lives: $KGSPATIAL_LAYERS, else the copy a built wheel carries
    (setup.py puts layers/ into kgspatial/_bundled/), else the source tree's layers/ folder."""
    env = os.environ.get("KGSPATIAL_LAYERS")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    bundled = here.parent / "_bundled" / "layers"
    return bundled if bundled.is_dir() else here.parents[1] / "layers"


@dataclass(frozen=True)
class LandUse:
    """One land-use code or group; `group` is the parent code, None for a top group."""

    code: str
    name_vi: str
    name_en: str
    group: str | None
    color: str
    sensitive: bool
    source: str


def normalise(raw: object) -> str:
    """The comparable form of a raw code: NFC, upper case, no spaces/dots/underscores, Đ→D.

    Layers written by hand spell one code many ways (" odt ", "o.d.t", "OĐT"); numbers read
    from a numeric column come back as their integer text; None and NaN become "".
    """
    if raw is None:
        return ""
    if isinstance(raw, float):
        if math.isnan(raw):
            return ""
        if raw.is_integer():
            raw = int(raw)
    text = unicodedata.normalize("NFC", str(raw)).upper()
    text = text.replace("Đ", "D").translate(_DASHES).translate(_DROPPED)
    return "".join(text.split())


def name_key(raw: object) -> str:
    """A land-use name as layers spell it, made comparable: no tone marks, case, spaces or
    punctuation ("Đất ở tại đô thị", "dat o tai do thi", "ĐẤT Ở TẠI ĐÔ THỊ" all give
    DATOTAIDOTHI).  Old data typed without a Vietnamese keyboard has no tone marks at all."""
    text = unicodedata.normalize("NFD", str(raw)).replace("đ", "d").replace("Đ", "D")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn").upper()
    return "".join(ch for ch in text if ch.isalnum())


def _without_dat(key: str) -> str:
    """The name key without a leading "đất" ("Đất trồng lúa" and "Trồng lúa" meet)."""
    return key[3:] if key.startswith("DAT") and len(key) > 3 else key


class Taxonomy:
    """The land-use code tree with aliases; built once, then read-only."""

    def __init__(self, entries: Iterable[LandUse], aliases: Mapping[str, str] | None = None, source: str = "taxonomy"):
        entries = list(entries)
        alias_rows = [(a, c, "", i) for i, (a, c) in enumerate((aliases or {}).items(), start=1)]
        problems = _check_tree([(e, i) for i, e in enumerate(entries, start=1)], source)
        alias_map, alias_problems = _check_aliases(alias_rows, {e.code for e in entries}, "aliases", need_source=False)
        problems += alias_problems
        if problems:
            _raise(source, problems)
        self._build(entries, alias_map)

    def _build(self, entries: list[LandUse], aliases: dict[str, str]) -> None:
        self._entries = {e.code: e for e in entries}
        self._aliases = {k: v for k, v in aliases.items() if not k.startswith(NAME_MARK)}
        self._children: dict[str, list[str]] = {e.code: [] for e in entries}
        for e in entries:
            if e.group:
                self._children[e.group].append(e.code)
        self._ancestors: dict[str, tuple[str, ...]] = {}
        for code in self._entries:
            chain, parent = [], self._entries[code].group
            while parent:
                chain.append(parent)
                parent = self._entries[parent].group
            self._ancestors[code] = tuple(chain)
        flagged = {c for c, e in self._entries.items() if e.sensitive}
        self._sensitive = frozenset(
            c for c in self._entries if c in flagged or flagged.intersection(self._ancestors[c])
        )
        self._canonical_cache: dict[str, str | None] = {}
        # Layers that carry the name instead of the code: each Vietnamese or English name of the
        # taxonomy stands for its code, unless two codes share the name once tone marks are gone.
        # The full name is tried first, then without "đất": "Đất khu công nghiệp" is SKK, while
        # "Khu công nghiệp" is the planning zone KCN.
        named = [(name_key(n), e.code) for e in entries for n in (e.name_vi, e.name_en) if n and name_key(n)]
        named += [(k[len(NAME_MARK) :], c) for k, c in aliases.items() if k.startswith(NAME_MARK)]
        self._names: list[dict[str, str]] = []
        for strip in (False, True):
            by_key: dict[str, set[str]] = {}
            for key, code in named:
                by_key.setdefault(_without_dat(key) if strip else key, set()).add(code)
            self._names.append({k: next(iter(c)) for k, c in by_key.items() if len(c) == 1})

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path | None = None, aliases: str | Path | None = None) -> "Taxonomy":
        """Read and validate the CSVs; every problem in either file is listed in one InputError.

        Without `path` the bundled layers/ files are used. Without `aliases`, the aliases file
        beside the taxonomy file is read when there is one.
        """
        path = Path(path) if path is not None else default_layers_dir() / TAXONOMY_FILE
        if aliases is None:
            sibling = path.parent / ALIASES_FILE
            aliases = sibling if sibling.exists() else None
        rows, problems = _read_csv(path, TAXONOMY_COLUMNS)
        entries: list[tuple[LandUse, int]] = []
        for line, row in rows:
            entry, row_problems = _parse_entry(row, line)
            problems += row_problems
            if entry is not None:
                entries.append((entry, line))
        problems += _check_tree(entries, path.name)
        alias_map: dict[str, str] = {}
        if aliases is not None:
            aliases = Path(aliases)
            alias_rows, alias_read_problems = _read_csv(aliases, ALIAS_COLUMNS)
            problems += alias_read_problems
            parsed = [(r.get("alias", ""), r.get("code", ""), r.get("source", ""), line) for line, r in alias_rows]
            alias_map, alias_problems = _check_aliases(parsed, {e.code for e, _ in entries}, aliases.name)
            problems += alias_problems
        if problems:
            _raise(str(path), problems)
        taxonomy = cls.__new__(cls)
        taxonomy._build([e for e, _ in entries], alias_map)
        return taxonomy

    # -- lookups ---------------------------------------------------------------------------

    normalise = staticmethod(normalise)

    def canonical(self, raw: object) -> str | None:
        """The taxonomy code a raw value stands for, or None when it is not known.

        Tried in order: the normalised value as a code, as an alias, then with a trailing
        zone number removed ("ODT-01", "ODT1", "ODT.2a" → ODT), then as the code's name
        ("Đất trồng lúa", "dat trong lua" → LUA; see `name_key`).
        """
        key = normalise(raw)
        if key in self._canonical_cache:
            return self._canonical_cache[key]
        result = self._exact(key)
        if result is None:
            match = _ZONE_SUFFIX_RE.match(key)
            if match:
                result = self._exact(match.group(1))
        if result is None and key:
            full = name_key(raw)
            result = self._names[0].get(full) or self._names[1].get(_without_dat(full))
        self._canonical_cache[key] = result
        return result

    def _exact(self, key: str) -> str | None:
        if key in self._entries:
            return key
        return self._aliases.get(key)

    def map_values(self, values: Iterable[object]) -> tuple[list[str | None], dict[str, int]]:
        """Canonical code per value, and the values that map to nothing with their counts.

        Unknown values are keyed by their trimmed NFC text ("" for empty, None or NaN), so a
        report can show them as the layer spells them; none is dropped silently.
        """
        canonical: list[str | None] = []
        unknown: dict[str, int] = {}
        for value in values:
            code = self.canonical(value)
            canonical.append(code)
            if code is None:
                key = _display(value)
                unknown[key] = unknown.get(key, 0) + 1
        return canonical, unknown

    def get(self, code: str) -> LandUse:
        """The entry of a canonical code (KeyError for anything else, aliases included)."""
        return self._entries[code]

    def ancestors(self, code: str) -> tuple[str, ...]:
        """Groups above a code, parent first, ending with its top group; () for a top group."""
        return self._ancestors[code]

    def children(self, code: str) -> tuple[str, ...]:
        return tuple(self._children[code])

    def descendants(self, code: str) -> tuple[str, ...]:
        """Every code below `code`, depth first."""
        out: list[str] = []
        stack = list(reversed(self._children[code]))
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(reversed(self._children[c]))
        return tuple(out)

    def is_group(self, code: str) -> bool:
        """A group has children; the rules table scores a match through one lower than a code."""
        return bool(self._children[code])

    def top_group(self, code: str) -> str:
        chain = self._ancestors[code]
        return chain[-1] if chain else code

    def color(self, code: str, default: str | None = None) -> str:
        """Map colour (#RRGGBB); `default` for codes the taxonomy does not know, else KeyError."""
        entry = self._entries.get(code)
        if entry is None:
            if default is None:
                raise KeyError(code)
            return default
        return entry.color

    def name(self, code: str, lang: str = "vi") -> str:
        entry = self._entries[code]
        if lang == "vi":
            return entry.name_vi
        if lang == "en":
            return entry.name_en
        raise ValueError(f"unknown language {lang!r} (vi or en)")

    @property
    def sensitive_codes(self) -> frozenset[str]:
        """Defence and security land (CQP, CAN) and anything below a sensitive code: masked for non-admins."""
        return self._sensitive

    @property
    def codes(self) -> list[str]:
        """Every code and group, in file order."""
        return list(self._entries)

    @property
    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)

    def __contains__(self, code: object) -> bool:
        return code in self._entries

    def __iter__(self) -> Iterator[LandUse]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Taxonomy({len(self._entries)} codes, {len(self._aliases)} aliases)"


# -- validation helpers ------------------------------------------------------------------------


def _raise(source: str, problems: list[str]) -> None:
    err = InputError(f"{source}: {len(problems)} problem(s): " + "; ".join(problems))
    err.problems = problems  # type: ignore[attr-defined]
    raise err


def _display(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFC", str(value)).strip()


def _read_csv(path: Path, columns: tuple[str, ...]) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """Rows as dicts with their file line numbers; a spreadsheet's BOM and blank lines are fine."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return [], [f"{path}: file not found"]
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path}: cannot read as UTF-8 ({exc.__class__.__name__})"]
    reader = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in columns if c not in header]
    if missing:
        return [], [f"{path.name}: missing column(s) {', '.join(missing)}"]
    rows, problems = [], []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):  # an unquoted comma: the last cells would be lost silently
            problems.append(
                f"{path.name} row {line}: {len(cells)} cells for {len(header)} columns (quote text with commas)"
            )
            continue
        rows.append((line, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}))
    return rows, problems


def _parse_entry(row: dict[str, str], line: int) -> tuple[LandUse | None, list[str]]:
    where = f"row {line}"
    problems = []
    code = row["code"]
    if not _CODE_RE.match(code):
        problems.append(f"{where}: code {code!r} is not upper-case letters and digits")
    group = row["group"] or None
    if group is not None and not _CODE_RE.match(group):
        problems.append(f"{where}: group {group!r} is not upper-case letters and digits")
    for column in ("name_vi", "name_en", "source"):
        if not row[column]:
            problems.append(f"{where} ({code}): empty {column}")
    color = row["color"]
    if not _COLOR_RE.match(color):
        problems.append(f"{where} ({code}): colour {color!r} is not #RRGGBB")
    sensitive = row["sensitive"] or "0"
    if sensitive not in ("0", "1"):
        problems.append(f"{where} ({code}): sensitive {row['sensitive']!r} is not 0 or 1")
    if problems:
        return None, problems
    entry = LandUse(
        code=code,
        name_vi=unicodedata.normalize("NFC", row["name_vi"]),
        name_en=row["name_en"],
        group=group,
        color=color.upper(),
        sensitive=sensitive == "1",
        source=row["source"],
    )
    return entry, []


def _check_tree(entries: list[tuple[LandUse, int]], source: str) -> list[str]:
    """Duplicate codes, parents that do not exist, and cycles in the group chain."""
    problems = []
    first: dict[str, int] = {}
    parent: dict[str, str | None] = {}
    for entry, line in entries:
        if entry.code in first:
            problems.append(f"row {line}: duplicate code {entry.code} (first on row {first[entry.code]})")
            continue
        first[entry.code] = line
        parent[entry.code] = entry.group
    for code, group in parent.items():
        if group is not None and group not in parent:
            problems.append(f"row {first[code]} ({code}): group {group} is not a code in {source}")
    reported: set[frozenset[str]] = set()
    for code in parent:
        seen: list[str] = []
        node: str | None = code
        while node is not None and node in parent and node not in seen:
            seen.append(node)
            node = parent[node]
        if node is not None and node in seen:
            cycle = seen[seen.index(node) :]
            if frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                problems.append("cycle in groups: " + " -> ".join(cycle + [node]))
    return problems


def _check_aliases(
    rows: list[tuple[str, str, str, int]], codes: set[str], source: str, need_source: bool = True
) -> tuple[dict[str, str], list[str]]:
    problems = []
    aliases: dict[str, str] = {}
    first: dict[str, int] = {}
    for alias, code, _src, line in rows:
        where = f"{source} row {line}"
        key = normalise(alias)
        if need_source and not _src:
            problems.append(f"{where} ({alias}): empty source")
        if " " in alias.strip() and name_key(alias):
            key = NAME_MARK + name_key(alias)  # an old name ("Đất giao thông"), matched as names are
        elif not _CODE_RE.match(key):
            problems.append(f"{where}: alias {alias!r} is not letters and digits")
            continue
        if key in codes:
            problems.append(f"{where}: alias {key} is itself a taxonomy code")
        elif key in first:
            problems.append(f"{where}: duplicate alias {alias!r} (first on row {first[key]})")
        elif code not in codes:
            problems.append(f"{where}: alias {alias!r} points to {code!r}, not a taxonomy code")
        else:
            first[key] = line
            aliases[key] = code
    return aliases, problems
