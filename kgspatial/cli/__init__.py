"""The `kgspatial` command: one module per subcommand, errors mapped to exit codes here only."""

from __future__ import annotations

import os
import sys

import typer

from ..errors import KgSpatialError

app = typer.Typer(
    name="kgspatial",
    help="Kiểm tra tính thống nhất quy hoạch / planning-consistency checks against a provincial master plan.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"kgspatial {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", is_eager=True, callback=_show_version
    ),
) -> None:
    """Kiểm tra tính thống nhất quy hoạch / planning-consistency checks (kgspatial)."""


INTERNAL_ERROR = 3  # a bug, not the user's input: distinct from 0/1/2 so scripts never mistake it


def _register() -> None:
    from . import check  # noqa: F401  (registers the command)

    for optional in ("batch", "register", "diff", "projects", "serve", "keys", "demo", "hazards"):
        try:
            __import__(f"{__name__}.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{optional}":
                raise


def main(argv: list[str] | None = None) -> int:
    _register()
    if os.environ.get("KGSPATIAL_ALLOW_NETWORK") != "1":  # README: what a check may reach
        from ..untrusted import cut_network

        cut_network()
    try:
        rc = app(args=argv, standalone_mode=False)
    except KgSpatialError as exc:
        print(f"kgspatial: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001
        # Usage errors (typer vendors click, so match by shape rather than by class)
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "format_message"):
                exc.show()  # the help text is the answer
            else:  # one line, as for every other bad input
                ctx = getattr(exc, "ctx", None)
                where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
                print(f"kgspatial: error: {exc.format_message()}{where}", file=sys.stderr)
            sys.exit(2)
        if type(exc).__name__ == "Abort":
            print("kgspatial: aborted", file=sys.stderr)
            sys.exit(130)
        import traceback

        traceback.print_exc()
        print(f"kgspatial: internal error: {exc}", file=sys.stderr)
        sys.exit(INTERNAL_ERROR)
    return rc if isinstance(rc, int) else 0


def run() -> None:
    """The console script: `main`, then leave without tearing the interpreter down.

    A check holds millions of small objects (geometries, strings); freeing them one by one at
    exit costs a quarter of a second at 100k zones and seconds at 1M, for nothing: every output
    is already written, closed and moved into place when `main` returns.
    """
    try:
        code = main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int) and exc.code is not None:
            print(exc.code, file=sys.stderr)
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
