"""Plans of a batch on a Dask distributed cluster (`kgspatial batch --scheduler tcp://HOST:PORT`).

Each worker process reads and prepares the master plan, communes and rules once (they are the
same files for every plan: the cluster needs the paths the registry names, e.g. a shared
drive), then checks the plans sent to it and sends back the conflict rows and the summary part.
Writing stays with the caller, as in a local run, so the outputs are the same byte for byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor

from .check import CheckOptions, Context, PlanInput, build_context, check_one
from .errors import InputError

_CONTEXTS: dict[str, Context] = {}  # per worker process: options digest -> prepared context
_LOCK = threading.Lock()  # a worker's threads wait for the one building the context


def _context(opts: CheckOptions) -> Context:
    key = hashlib.sha256(pickle.dumps(opts)).hexdigest()
    with _LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            _CONTEXTS.clear()  # another batch's master plan is no longer wanted here
            ctx = _CONTEXTS[key] = build_context(opts)
        return ctx


def check_on_worker(opts: CheckOptions, spec: PlanInput, min_area: float | None):
    """One plan, on a worker: what check.check_one returns for it, or raises.

    The error is sent without the exceptions it was raised from (`raise ... from None` keeps them
    as its context): a reader's own exception may not unpickle, and Dask would then send a plain
    Exception, so the plan's reason would not read as in a local run."""
    try:
        return check_one(_context(opts), spec, opts, min_area=min_area)
    except Exception as exc:  # noqa: BLE001  (re-raised below, outside this handler)
        error = exc
    error.__cause__ = error.__context__ = None
    raise error


@contextlib.contextmanager
def plan_executor(scheduler: str | None, workers: int) -> Iterator[tuple[Executor, bool]]:
    """An executor for the plans and whether it is remote: local threads, or the cluster whose
    scheduler address is given (concurrent.futures' interface either way)."""
    if not scheduler:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kgspatial-plan") as pool:
            yield pool, False
        return
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler needs Dask distributed: pip install 'kgspatial[scaleout]'") from None
    try:
        client = Client(scheduler, set_as_default=False)  # waits distributed.comm.timeouts.connect (30 s)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
    try:
        # Plans are independent: none is retried elsewhere unasked, and each runs once.
        yield client.get_executor(pure=False), True
    finally:
        client.close()
