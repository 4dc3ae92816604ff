"""Shared fixtures; and the rule that in CI (KGSPATIAL_REQUIRE_SYSTEM=1) no system-package
test may be skipped: a skip there means CI did not install what it should have."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def require_system(what: str, install_hint: str) -> None:
    """Skip (or fail, in CI) a test that needs a system package."""
    message = f"needs {what}: install it with `{install_hint}`"
    if os.environ.get("KGSPATIAL_REQUIRE_SYSTEM") == "1":
        pytest.fail(message + " (KGSPATIAL_REQUIRE_SYSTEM=1 forbids skipping)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        require_system(f"the shared real boundaries at {SHARED_DATA}", "a checkout with ../shared/data beside it")
    return SHARED_DATA
