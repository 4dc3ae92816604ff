"""Library messages reworded for the web service: the user sent a form, not a command line, and
the server's scratch paths mean nothing to them (and are not theirs to see)."""

from __future__ import annotations

import re

# Command-line advice -> the form field or request key that does the same (CONTRACT §5).
_FLAGS = (
    ("--assume-crs", "the form field assume_crs"),
    ("--encoding", "the form field encoding"),
    ("--plan-field", "the form field code_field"),
    ("--master-field", "the form field code_field"),
    ("--admin-field", "the form field code_field"),
    ("--admin-name-field", "the form field name_field"),
    ("--min-area", "min_area"),
)
_SELECTOR = re.compile(r"choose one (?:as|with) \S+::(\S+)")
_EXAMPLE = re.compile(r"give one with --assume-crs, e\.g\. --assume-crs (\S+)")
# The same in the Vietnamese half of a message (kgspatial.io).
_SELECTOR_VI = re.compile(r"hãy chọn một lớp(?: bằng|, ví dụ) \S+::(\S+)")
_EXAMPLE_VI = re.compile(r"ví dụ --assume-crs (\S+)")


def for_api(message: str, paths: dict[str, str]) -> str:
    """`message` with each server path replaced by what the user knows it as, and CLI options by
    the form fields that do the same."""
    for path, label in sorted(paths.items(), key=lambda kv: -len(kv[0])):  # longest first: no partial swaps
        message = message.replace(f"/vsizip/{path}/", f"{label}::").replace(path, label)
    message = _SELECTOR.sub(r"choose one with the form field layer, e.g. layer=\1", message)
    message = _EXAMPLE.sub(r"give one in the form field assume_crs, e.g. assume_crs=\1", message)
    message = _SELECTOR_VI.sub(r"hãy chọn một lớp bằng trường layer, ví dụ layer=\1", message)
    message = _EXAMPLE_VI.sub(r"ví dụ assume_crs=\1", message)
    for flag, field in sorted(_FLAGS, key=lambda kv: -len(kv[0])):
        # Vietnamese halves say "tùy chọn --flag" (the option): "trường <field>" (the form field).
        message = message.replace(f"tùy chọn {flag}", f"trường {field.removeprefix('the form field ')}")
        message = message.replace(flag, field)
    return message
