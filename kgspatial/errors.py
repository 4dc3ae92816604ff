"""One error hierarchy, mapped to CLI exit codes and HTTP statuses in one place each."""

from __future__ import annotations


class KgSpatialError(Exception):
    """Base of every error a user can cause; the message is one line, ready to show."""

    exit_code = 2
    http_status = 400
    vi: str | None = None  # the two halves of a message made by `say`, for callers that extend it
    en: str | None = None

    @classmethod
    def say(cls, vi: str, en: str):
        """The error with its message in Vietnamese first, English after ("vi / en")."""
        exc = cls(say(vi, en))
        exc.vi, exc.en = vi, en
        return exc


def say(vi: str, en: str) -> str:
    """A message as this project's users read it: Vietnamese, then the same in English."""
    return f"{vi} / {en}"


class InputError(KgSpatialError):
    """A file that cannot be read, a missing part, an unknown field or layer."""


class CRSError(InputError):
    """A layer without a coordinate reference system, or one that cannot be used."""

    http_status = 422


class EncodingError(InputError):
    """Text that cannot be decoded with the given or detected encoding."""


class RulesError(KgSpatialError):
    """A malformed rules table; `problems` lists every problem found, not just the first."""

    http_status = 422

    def __init__(self, problems: list[str], source: str = "rules table"):
        self.problems = list(problems)
        head = f"{source}: {len(self.problems)} lỗi / {len(self.problems)} problem(s): "
        super().__init__(head + "; ".join(self.problems))


class RegistryError(RulesError):
    """A malformed plan registry (batch runs): every problem listed at once."""


class ExceptionsError(RulesError):
    """A malformed exceptions table (CONTRACT §10): every problem listed at once."""
