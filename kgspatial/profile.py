"""Province profiles (CONTRACT §4): what a province's checks default to, kept as data in
layers/<name>/profile.yaml so a second province is a new folder, not new code."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import InputError
from .taxonomy import Taxonomy, default_layers_dir

PROFILE_FILE = "profile.yaml"
DEFAULT_PROFILE = "kien-giang"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_REQUIRED = ("name", "title", "analysis_crs", "rules", "taxonomy", "code_fields", "label_fields")


@dataclass(frozen=True)
class Profile:
    """A province's defaults; paths are absolute (resolved against the profile file)."""

    name: str
    title: str
    analysis_crs: str
    rules: Path
    taxonomy: Path
    aliases: Path | None
    code_fields: tuple[str, ...]
    label_fields: tuple[str, ...]
    master_plan: str = ""
    master_plan_approved: dt.date | None = None  # the provincial plan's approval (register, CONTRACT §7)
    review_deadline: dt.date | None = None  # by when every lower plan must have been reviewed
    path: Path | None = None

    def load_taxonomy(self) -> Taxonomy:
        return Taxonomy.load(self.taxonomy, self.aliases)

    def detect_code_field(self, columns: Iterable[str]) -> str | None:
        return detect_field(columns, self.code_fields)

    def detect_label_field(self, columns: Iterable[str]) -> str | None:
        return detect_field(columns, self.label_fields)


def detect_field(columns: Iterable[str], candidates: Iterable[str]) -> str | None:
    """The first candidate present among `columns`: exact names first, then ignoring case.

    Returns the column's own spelling, so it can index the layer.
    """
    columns = list(columns)
    candidates = list(candidates)
    present = set(columns)
    for name in candidates:
        if name in present:
            return name
    folded = {}
    for column in columns:
        folded.setdefault(column.casefold(), column)
    for name in candidates:
        if name.casefold() in folded:
            return folded[name.casefold()]
    return None


def available_profiles(layers_dir: str | Path | None = None) -> list[str]:
    """Names of the folders under layers/ that hold a profile.yaml."""
    root = Path(layers_dir) if layers_dir is not None else default_layers_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{PROFILE_FILE}"))


def load_profile(name: str = DEFAULT_PROFILE, layers_dir: str | Path | None = None) -> Profile:
    """The named profile from layers/<name>/profile.yaml; InputError names the available ones."""
    root = Path(layers_dir) if layers_dir is not None else default_layers_dir()
    path = root / name / PROFILE_FILE
    if not _NAME_RE.match(name or "") or not path.is_file():
        available = ", ".join(available_profiles(root)) or "none"
        raise InputError(f"unknown province profile {name!r}; available: {available}")
    return load_profile_file(path)


def load_profile_file(path: str | Path) -> Profile:
    """Read and check one profile file; every problem is listed in one InputError."""
    path = Path(path).resolve()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"profile file not found: {path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())
        raise InputError(f"{path}: not a readable YAML profile ({reason})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a profile is a mapping of keys (name, title, analysis_crs, ...)")

    problems = [f"missing key {key!r}" for key in _REQUIRED if key not in data]
    base = path.parent

    def text(key: str) -> str:
        value = data.get(key, "")
        if value is None or not isinstance(value, (str, int, float)):
            problems.append(f"{key}: expected text")
            return ""
        return str(value).strip()

    def file(key: str) -> Path | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key}: expected a file path")
            return None
        resolved = (base / value).resolve()
        if not resolved.is_file():
            problems.append(f"{key}: file not found: {resolved}")
        return resolved

    def names(key: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            problems.append(f"{key}: expected a non-empty list of column names")
            return ()
        return tuple(v.strip() for v in value)

    def date(key: str) -> dt.date | None:
        value = data.get(key)
        if value is None or isinstance(value, dt.date):
            return value
        problems.append(f"{key}: expected a date written year-month-day (got {value!r})")
        return None

    name = text("name")
    if name and name != path.parent.name and path.name == PROFILE_FILE:
        problems.append(f"name: {name!r} differs from its folder {path.parent.name!r}")
    crs = text("analysis_crs")
    if crs:
        problems += _check_crs(crs)
    profile_fields = dict(
        name=name,
        title=text("title"),
        analysis_crs=crs,
        rules=file("rules"),
        taxonomy=file("taxonomy"),
        aliases=file("aliases"),
        code_fields=names("code_fields"),
        label_fields=names("label_fields"),
        master_plan=text("master_plan") if "master_plan" in data else "",
        master_plan_approved=date("master_plan_approved"),
        review_deadline=date("review_deadline"),
        path=path,
    )
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s): " + "; ".join(problems))
    return Profile(**profile_fields)


def _check_crs(crs: str) -> list[str]:
    """A projected CRS that pyproj knows: areas are measured in it."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except CRSError:
        return [f"analysis_crs: {crs!r} is not a CRS pyproj knows"]
    if not parsed.is_projected:
        return [f"analysis_crs: {crs!r} ({parsed.name}) is not projected; areas need metres"]
    return []
