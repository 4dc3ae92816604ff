"""`python -m kgspatial` runs the command line."""

from .cli import run

run()
