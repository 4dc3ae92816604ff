"""The plan registry of a province (CONTRACT §6): which plans a batch run checks, and against what.

A registry is YAML written by hand in a planning department, so it is validated before any
work with every problem listed at once (RegistryError), like the rules table: fixing one typo
per run would take a whole afternoon on a province's 80 plans.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from . import textcodec  # noqa: F401  (registers the tcvn3 and vni codecs for the encoding check)
from .errors import KgSpatialError, RegistryError, say
from .io import split_selector
from .profile import Profile, load_profile

PLAN_TYPE_RE = re.compile(r"^(urban_general|urban_zoning|rural|sectoral_[a-z][a-z0-9_]*|technical_[a-z][a-z0-9_]*)$")
PLAN_TYPES_HELP = "urban_general | urban_zoning | rural | sectoral_<sector> | technical_<kind>"
PLAN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")  # also a folder name under --out
# Device names no Windows folder may take (Microsoft, "Naming Files, Paths, and Namespaces").
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}

# Vietnamese documents write dates day first: 10/05/2019 is 10 May.
_DMY_RE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")
_ISO_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")


def plan_type_error(value: object) -> str:
    """What a wrong plan type gets told: every accepted type, with its Vietnamese (then English) name."""
    from .reports.labels import plan_type_choices

    return say(
        f"{value!r} không phải là loại quy hoạch; các loại: {plan_type_choices()}",
        f"{value!r} is not a plan type; use {plan_type_choices(english=True)}",
    )


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps an impossible date (`approved: 2021-02-30`) as its text.

    PyYAML builds dates while parsing and raises a bare ValueError on 30 February; kept as text,
    the date is refused by the validation below along with the registry's other problems.
    """


def _timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class LayerEntry(_Strict):
    """A master-plan layer: the file, its code and name columns."""

    path: str
    code_field: str | None = None
    label_field: str | None = None
    layer: str | None = None
    id_field: str | None = None
    encoding: str | None = None
    assume_crs: str | None = None


class ProjectsEntry(_Strict):
    """The priority investment projects (CONTRACT §9): a layer or a CSV, and which column holds what.

    Field names default to the English key names (id, name, code, ...), matched ignoring case."""

    path: str
    layer: str | None = None
    id_field: str | None = None
    name_field: str | None = None
    code_field: str | None = None
    sector_field: str | None = None
    phase_field: str | None = None
    status_field: str | None = None
    capital_field: str | None = None
    funding_field: str | None = None
    encoding: str | None = None
    assume_crs: str | None = None


class AdminEntry(_Strict):
    path: str
    code_field: str | None = None
    name_field: str | None = None
    layer: str | None = None


def _parse_date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        for pattern, order, shown, form in (
            (_DMY_RE, (2, 1, 0), repr(value), "day/month/year"),
            (_ISO_RE, (0, 1, 2), value.strip(), "year-month-day"),
        ):
            match = pattern.match(value)
            if match:
                numbers = [int(g) for g in match.groups()]
                try:
                    return dt.date(*(numbers[i] for i in order))
                except ValueError:
                    raise ValueError(f"{shown} is not a date ({form})") from None
    return value


class Adjustment(_Strict):
    """A decision that adjusted an approved plan (CONTRACT §7 `adjustments`)."""

    decision: str
    approved: dt.date
    note: str | None = None

    @field_validator("approved", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        return _parse_date(value)

    @field_validator("decision", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


# The register's keys (CONTRACT §7): they say what the plan is in law, not what it contains, so
# changing them never makes a batch check the plan again.
REGISTER_KEYS = frozenset(
    {"status", "horizon", "integrated", "fixes_quantities", "parent", "superseded_by", "review_due", "adjustments"}
)


class PlanEntry(_Strict):
    """One registered plan. Required keys as in CONTRACT §6; a draft has no decision yet."""

    id: str
    name: str
    type: str
    path: str
    code_field: str | None
    label_field: str | None
    decision: str | None = None
    approved: dt.date | None = None
    authority: str | None = None
    layer: str | None = None
    id_field: str | None = None
    encoding: str | None = None
    assume_crs: str | None = None
    min_area: float | None = None
    status: Literal["draft", "approved", "abolished", "superseded"] | None = None
    horizon: int | None = None
    integrated: bool = False
    fixes_quantities: bool = False
    parent: str | None = None
    superseded_by: str | None = None
    review_due: dt.date | None = None
    adjustments: list[Adjustment] = []

    @field_validator("approved", "review_due", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        return _parse_date(value)

    @field_validator("horizon")
    @classmethod
    def _horizon(cls, value: int | None) -> int | None:
        if value is not None and not 1945 <= value <= 2200:
            raise ValueError(f"{value} is not a plan's last year (e.g. 2030)")
        return value

    @property
    def declared_status(self) -> str:
        """What the registry says: `approved` when a decision is given, else `draft`, unless declared."""
        return self.status or ("approved" if self.decision else "draft")

    @field_validator("decision", "authority", "name", "assume_crs", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # YAML reads `decision: 1234` as an int; a decision number is text.
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not PLAN_ID_RE.match(value):
            raise ValueError(
                f"{value!r} is not a usable id (Latin letters without accents, digits, '.', '_', '-';"
                " it names a folder)"
            )
        if value.split(".")[0].upper() in _WINDOWS_RESERVED:
            raise ValueError(
                f"{value!r} is not a usable id: Windows reserves that name for a device, so its"
                " folder could not be opened on an office PC"
            )
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not PLAN_TYPE_RE.match(value):
            raise ValueError(plan_type_error(value))
        return value

    @field_validator("min_area")
    @classmethod
    def _min_area(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError("must be 0 or more (m²)")
        return value


class _Top(_Strict):
    province: str
    master: Any
    admin: Any = None
    admin_previous: Any = None
    rules: str | None = None
    exceptions: str | None = None
    hazards: str | None = None  # HAZARDS.yaml (CONTRACT §8)
    plans: list[Any]
    projects: Any = None
    indicators: Any = None


class Registry(BaseModel):
    """A validated registry; every path absolute (resolved against the registry file)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    path: Path
    province: str
    profile: Profile
    master: LayerEntry
    admin: AdminEntry | None
    admin_previous: AdminEntry | None
    rules: Path
    plans: list[PlanEntry]
    exceptions: Path | None = None  # CONTRACT §10: exceptions.csv
    exception_list: tuple[Any, ...] = ()  # its rows, validated (kgspatial.exceptions.PlanException)
    hazards: Path | None = None
    projects: ProjectsEntry | None = None  # CONTRACT §9
    indicators: Path | None = None

    def plan_spec(self, plan: PlanEntry) -> str:
        """The plan's layer as read_layer wants it (PATH or PATH::LAYER)."""
        return f"{plan.path}::{plan.layer}" if plan.layer else plan.path

    def master_spec(self) -> str:
        return f"{self.master.path}::{self.master.layer}" if self.master.layer else self.master.path

    @staticmethod
    def admin_spec(entry: AdminEntry) -> str:
        return f"{entry.path}::{entry.layer}" if entry.layer else entry.path


def _where(prefix: str, loc: tuple) -> str:
    parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts) or "registry"


def _errors(exc: ValidationError, prefix: str) -> list[str]:
    out = []
    for err in exc.errors():
        where = _where(prefix, err["loc"])
        if err["type"] == "missing":
            out.append(f"{where}: missing key")
        elif err["type"] == "extra_forbidden":
            out.append(f"{where}: unknown key")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            # A message that already quotes the value needs no "(got ...)" after it.
            if err["type"] == "value_error" and isinstance(got, str) and got.strip() and got.strip() in msg:
                out.append(f"{where}: {msg}")
            else:
                out.append(f"{where}: {msg} (got {got!r})")
    return out


def _resolve(base: Path, value: str) -> str:
    """PATH or PATH::LAYER with PATH made absolute against the registry's folder."""
    path, layer = split_selector(value)
    resolved = str((base / Path(path).expanduser()).resolve())
    return f"{resolved}::{layer}" if layer else resolved


def _check_file(where: str, spec: str, problems: list[str]) -> None:
    path, _ = split_selector(spec)
    p = Path(path)
    if not p.exists():
        problems.append(f"{where}: file not found: {p}")
    elif p.is_dir() and p.suffix.lower() != ".gdb":
        problems.append(f"{where}: {p} is a folder; give the .shp, .zip, .gpkg, .gdb or other file")


def _check_encoding(where: str, name: str | None, problems: list[str]) -> None:
    if name is None:
        return
    try:
        codecs.lookup(name)
    except LookupError:
        problems.append(f"{where}: unknown text encoding {name!r} (utf-8, cp1258, tcvn3, vni...)")


def _check_crs(where: str, value: str | None, problems: list[str]) -> None:
    if value is None:
        return
    from . import crs as crs_mod

    try:
        crs_mod.recognise(value)
    except KgSpatialError as exc:
        problems.append(f"{where}: {exc}")
    except Exception:  # noqa: BLE001  (pyproj raises its own types)
        problems.append(f"{where}: {value!r} is not a coordinate reference system pyproj knows")


def _link_problems(plans: list[PlanEntry]) -> list[str]:
    """`parent` and `superseded_by` must name other registered plans, and parents never loop."""
    ids = {p.id for p in plans}
    problems = []
    for plan in plans:
        for key in ("parent", "superseded_by"):
            target = getattr(plan, key)
            if target is None:
                continue
            if target == plan.id:
                problems.append(f"plans ({plan.id}).{key}: a plan cannot name itself")
            elif target not in ids:
                problems.append(f"plans ({plan.id}).{key}: no plan with id {target!r} in the registry")
    parent = {p.id: p.parent for p in plans if p.parent in ids and p.parent != p.id}
    reported: set[str] = set()
    for start in parent:
        chain, node = [start], parent.get(start)
        while node is not None and node not in chain:
            chain.append(node)
            node = parent.get(node)
        loop = chain[chain.index(node) :] if node is not None else []
        if loop and not reported.intersection(loop):
            reported.update(loop)
            loop.append(node)
            problems.append(f"plans: parents form a cycle ({' -> '.join(loop)})")
    return problems


def check_plan_entry(raw: dict, others: list[PlanEntry], source: str = "plan") -> PlanEntry:
    """One plan's keys validated as a registry's are, for the service's uploads and edits.

    `others` are the plans its `parent` and `superseded_by` may name; every problem is listed at
    once (RegistryError), links and cycles of parents included, but not the other plans' own
    problems (a plan is not refused for a link some other plan keeps)."""
    problems: list[str] = []
    try:
        plan = PlanEntry.model_validate(raw)
    except ValidationError as exc:
        problems += _errors(exc, "")
        plan = None
    # Links are checked even when other keys are wrong (every problem at once): a stand-in
    # carries just the id and the two links.
    links = plan or PlanEntry.model_construct(
        id=str(raw.get("id")),
        **{k: raw[k] if isinstance(raw.get(k), str) else None for k in ("parent", "superseded_by")},
    )
    if links.id:
        prefix, cycle = f"plans ({links.id}).", "plans: parents form a cycle ("
        for problem in _link_problems([p for p in others if p.id != links.id] + [links]):
            if problem.startswith(prefix):
                problems.append(problem[len(prefix) :].replace(" in the registry", ""))
            elif problem.startswith(cycle) and links.id in problem[len(cycle) : -1].split(" -> "):
                problems.append(problem.removeprefix("plans: "))
    if problems:
        raise RegistryError(problems, source=source)
    assert plan is not None
    return plan


def load_registry(path: str | Path) -> Registry:
    """Read and validate a registry file; RegistryError lists every problem found."""
    path = Path(path).expanduser().resolve()
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(["file not found"], source=source) from None
    except UnicodeDecodeError:
        raise RegistryError(["the file is not UTF-8 text"], source=source) from None
    except OSError as exc:
        raise RegistryError([f"cannot read ({exc.strerror})"], source=source) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        raise RegistryError([_yaml_problem(exc)], source=source) from None
    return parse_registry(data, path)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line for a YAML syntax error: where (line, column) and what, without PyYAML's excerpt."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return f"not valid YAML ({' '.join(str(exc).split())})"
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    context = getattr(exc, "context", None)
    what = f"{context}, {problem}" if context else problem
    tab = "\t" in what or "'\\t'" in what  # PyYAML writes the tab escaped: found character '\t'
    hint = " (YAML indents with spaces, not tabs)" if tab else ""
    return f"not valid YAML at {where}: {' '.join(what.split())}{hint}"


def parse_registry(data: Any, path: Path) -> Registry:
    """Validate registry data read from `path` (paths inside are relative to its folder)."""
    source = str(path)
    base = path.parent
    if not isinstance(data, dict):
        raise RegistryError(
            ["a registry is a mapping with keys province, master, plans (and admin, admin_previous, rules)"],
            source=source,
        )
    problems: list[str] = []
    try:
        top = _Top.model_validate(data)
    except ValidationError as exc:
        problems += _errors(exc, "")
        top = None

    profile = None
    province = data.get("province")
    if isinstance(province, str):
        try:
            profile = load_profile(province.strip())
        except KgSpatialError as exc:
            problems.append(f"province: {exc}")

    def entry(model, key: str):
        value = data.get(key)
        if value is None:
            if key == "master" and key in data:
                problems.append("master: expected a mapping with path, code_field, label_field")
            return None
        if isinstance(value, str):  # shorthand: `admin: communes.gpkg`
            value = {"path": value}
        try:
            parsed = model.model_validate(value)
        except ValidationError as exc:
            problems.extend(_errors(exc, key))
            return None
        parsed = parsed.model_copy(update={"path": _resolve(base, parsed.path)})
        _check_file(f"{key}.path", parsed.path, problems)
        return parsed

    master = entry(LayerEntry, "master")
    if master is not None:
        _check_encoding("master.encoding", master.encoding, problems)
        _check_crs("master.assume_crs", master.assume_crs, problems)
    admin = entry(AdminEntry, "admin")
    admin_previous = entry(AdminEntry, "admin_previous")
    if admin is None and "admin" not in data and profile is not None:
        default_admin = getattr(profile, "admin", None)  # a profile may name the province's units
        if default_admin:
            admin = AdminEntry.model_validate(
                default_admin if isinstance(default_admin, dict) else {"path": str(default_admin)}
            )

    rules: Path | None = None
    raw_rules = data.get("rules")
    if isinstance(raw_rules, str) and raw_rules.strip():
        rules = Path(_resolve(base, raw_rules.strip()))
        if not rules.is_file():
            problems.append(f"rules: file not found: {rules}")
    elif raw_rules is None and profile is not None:
        rules = Path(profile.rules)

    hazards: Path | None = None
    raw_hazards = data.get("hazards")
    if isinstance(raw_hazards, str) and raw_hazards.strip():
        hazards = Path(_resolve(base, raw_hazards.strip()))
        if not hazards.is_file():
            problems.append(f"hazards: file not found: {hazards}")
    elif raw_hazards is not None:
        problems.append("hazards: expected the path of a HAZARDS.yaml")
    projects = entry(ProjectsEntry, "projects")
    if projects is not None:
        _check_encoding("projects.encoding", projects.encoding, problems)
        _check_crs("projects.assume_crs", projects.assume_crs, problems)
    indicators: Path | None = None
    raw_indicators = data.get("indicators")
    if isinstance(raw_indicators, str) and raw_indicators.strip():
        indicators = Path(_resolve(base, raw_indicators.strip()))
        if not indicators.is_file():
            problems.append(f"indicators: file not found: {indicators}")
    elif raw_indicators is not None:
        problems.append(
            "indicators: expected the path of a CSV table (unit_code,code,bound,target_ha,tolerance_pct,source)"
        )

    plans: list[PlanEntry] = []
    raw_plans = data.get("plans")
    if isinstance(raw_plans, list):
        if not raw_plans:
            problems.append("plans: the list is empty")
        seen: dict[str, int] = {}
        for i, raw in enumerate(raw_plans):
            label = f"plans[{i}]"
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                label += f" ({raw['id']})"
            if not isinstance(raw, dict):
                problems.append(f"{label}: expected a mapping of keys (id, name, type, path, ...)")
                continue
            try:
                plan = PlanEntry.model_validate(raw)
            except ValidationError as exc:
                problems.extend(_errors(exc, label))
                plan = None
            raw_id = raw.get("id")
            if isinstance(raw_id, str):
                # Folders on Windows and macOS shares ignore case: qh-a and QH-A would share one.
                if raw_id.casefold() in seen:
                    problems.append(
                        f"{label}.id: {raw_id!r} is already the id of plans[{seen[raw_id.casefold()]}]"
                        " (ids name folders, whose case Windows ignores)"
                    )
                else:
                    seen[raw_id.casefold()] = i
            if isinstance(raw.get("path"), str):
                _check_file(f"{label}.path", _resolve(base, raw["path"]), problems)
            if isinstance(raw.get("encoding"), str):
                _check_encoding(f"{label}.encoding", raw["encoding"].strip(), problems)
            if isinstance(raw.get("assume_crs"), (str, int)) and not isinstance(raw.get("assume_crs"), bool):
                _check_crs(f"{label}.assume_crs", str(raw["assume_crs"]).strip(), problems)
            if plan is not None:
                plans.append(plan.model_copy(update={"path": _resolve(base, plan.path)}))

    problems += _link_problems(plans)
    exceptions, exception_list = _exceptions(data.get("exceptions"), base, plans, problems)
    if problems:
        raise RegistryError(problems, source=source)
    assert top is not None and profile is not None and master is not None and rules is not None
    return Registry(
        path=path,
        province=top.province,
        profile=profile,
        master=master,
        admin=admin,
        admin_previous=admin_previous,
        rules=rules,
        plans=plans,
        exceptions=exceptions,
        exception_list=tuple(exception_list),
        hazards=hazards,
        projects=projects,
        indicators=indicators,
    )


def _exceptions(raw: Any, base: Path, plans: list[PlanEntry], problems: list[str]) -> tuple[Path | None, list]:
    """The registry's exceptions.csv (CONTRACT §10), read with the registry so its problems are
    listed with the others; an exception of a plan the registry does not list is one of them."""
    from .errors import ExceptionsError
    from .exceptions import read_exceptions

    if raw is None or not isinstance(raw, str) or not raw.strip():
        return None, []
    path = Path(_resolve(base, raw.strip()))
    if not path.is_file():
        problems.append(f"exceptions: file not found: {path}")
        return None, []
    try:
        rows = read_exceptions(path)
    except ExceptionsError as exc:
        problems.extend(f"exceptions ({path.name}): {p}" for p in exc.problems)
        return None, []
    ids = {p.id for p in plans}
    for unknown in sorted({e.plan_id for e in rows} - ids):
        problems.append(f"exceptions ({path.name}): no plan with id {unknown!r} in the registry")
    parents = {p.id: p.parent for p in plans}
    for e in rows:  # `against`: the master plan, or the plan's own parent (CONTRACT §7 rows say which)
        if e.plan_id in parents and e.against not in ("master", parents[e.plan_id]):
            problems.append(
                f"exceptions ({path.name}): {e.plan_id} / {e.rule_id} / {e.plan_feature}, against: {e.against!r} không"
                f" phải 'master' hay quy hoạch cấp trên của nó / is neither 'master' nor the plan's parent"
                f" ({parents[e.plan_id] or 'none'})"
            )
    return path, rows
