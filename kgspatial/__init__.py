"""kgspatial: planning-consistency checks of lower plans against a provincial master plan."""

__version__ = "0.1.1"  # the one place: pyproject reads it, the changelog names it
