"""The Lambda runtime, in-process: load each function's real handler, invoke it with a context, honour its Timeout.

Four functions share one Python process here, where AWS gives each its own. What that changes, and how it is handled:

- Module names: handler files share names (most are ``app.py``). Each is loaded from the path its template
  ``Handler`` names, under its own module name (``lambda_SettingsFunction``), so same-named modules coexist. As on
  AWS the handler module is top-level (a relative import fails here as it would there); its code directory joins
  ``sys.path`` only if it holds sibling modules, and two functions with a same-named sibling module are refused at
  start-up, since one process cannot hold both.
- Environment: one ``os.environ`` for all. The stack sets the union of the functions' environments once (see
  ``environment.py``); each invocation first checks that its function's variables still hold, and fails loudly if not.
- Timeouts: Python cannot stop a thread. A handler past its Timeout is reported as timed out (as Lambda reports it)
  and its thread is left to finish in the background; AWS would have frozen or recycled that environment.
- Concurrency: requests run in parallel, as in separate execution environments. ``ReservedConcurrentExecutions`` is
  honoured with a semaphore held until the handler really returns.
- Execution environments: on AWS each function's warm environments keep their own clients and caches (a cached
  secret, for one). The layer keeps its services per environment name (``EXECUTION_ENVIRONMENT``), and each
  invocation runs under its function's name, so one function's cache is never another's here either.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from local.template import ROOT, FunctionSpec, functions, load_template

STACK_NAME = "securedb-asana-local"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account: ARNs the functions see match the resources moto created

_log = logging.getLogger("local.lambda")

Handler = Callable[[dict[str, Any], Any], Any]
Outcome = Literal["ok", "error", "timeout", "abandoned", "throttled"]


@dataclass
class LambdaContext:
    """What the python3.13 runtime passes as ``context`` (the attributes Powertools and handlers read)."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_monotonic: float
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline_monotonic - time.monotonic()) * 1000))


@dataclass(frozen=True)
class LambdaFunction:
    spec: FunctionSpec
    code_dir: Path
    memory_mb: int
    reserved_concurrency: int | None

    @property
    def logical_id(self) -> str:
        return self.spec.logical_id

    @property
    def name(self) -> str:
        # The deployed shape is <stack>-<LogicalId>-<suffix>; locally there is nothing to disambiguate.
        return f"{STACK_NAME}-{self.logical_id}"

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.name}"


@dataclass(frozen=True)
class Invocation:
    function: str
    request_id: str
    outcome: Outcome
    duration_ms: float
    result: Any = None
    error: BaseException | None = field(default=None, repr=False)


class FunctionHost:
    def __init__(
        self,
        template: Mapping[str, Any] | None = None,
        *,
        root: Path = ROOT,
        expected_environment: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        template = template or load_template()
        globals_ = template.get("Globals", {}).get("Function", {})
        self.functions: dict[str, LambdaFunction] = {}
        for spec in functions(template):
            props = template["Resources"][spec.logical_id]["Properties"]
            reserved = props.get("ReservedConcurrentExecutions")
            self.functions[spec.logical_id] = LambdaFunction(
                spec=spec,
                code_dir=(root / spec.code_uri).resolve(),
                memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
                reserved_concurrency=int(reserved) if reserved is not None else None,
            )
        self._expected_environment = expected_environment or {}
        self._handlers: dict[str, Handler] = {}
        self._load_lock = threading.Lock()
        self._slots = {
            fid: threading.BoundedSemaphore(fn.reserved_concurrency)
            for fid, fn in self.functions.items()
            if fn.reserved_concurrency is not None
        }
        self._sibling_dirs = _check_sibling_modules(self.functions.values())

    def invoke(
        self,
        logical_id: str,
        event: dict[str, Any],
        *,
        wait_seconds: float | None = None,
        queue_when_throttled: bool = False,
        request_id: str | None = None,
    ) -> Invocation:
        """Run the handler in its own thread and wait for it: at most its Timeout, or ``wait_seconds`` if shorter
        (the caller stops waiting: ``abandoned``, the handler carries on). ``queue_when_throttled`` waits for a free
        concurrency slot (asynchronous invocations queue on AWS) instead of failing (synchronous ones are throttled).
        ``request_id`` is given for a retried asynchronous event, which Lambda runs again under its first request id."""
        function = self.functions[logical_id]
        request_id = request_id or str(uuid.uuid4())
        started = time.monotonic()

        def finish(outcome: Outcome, result: Any = None, error: BaseException | None = None) -> Invocation:
            return Invocation(logical_id, request_id, outcome, (time.monotonic() - started) * 1000, result, error)

        slot = self._slots.get(logical_id)
        if slot is not None and not slot.acquire(blocking=queue_when_throttled):
            return finish("throttled")
        try:
            self._check_environment(logical_id)
            handler = self._handler(function)
        except Exception as error:
            if slot is not None:
                slot.release()
            _log.exception("%s could not start (Runtime.ImportModuleError on AWS)", logical_id)
            return finish("error", error=error)

        deadline = time.monotonic() + function.spec.timeout
        context = LambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            invoked_function_arn=function.arn,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{function.name}",
            log_stream_name=f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}",  # UTC date
            deadline_monotonic=deadline,
        )
        box: dict[str, Any] = {}
        done = threading.Event()
        environment = _execution_environment()

        def run() -> None:
            # This thread runs in the function's own execution environment (the layer's services and their caches).
            environment.set(logical_id)
            try:
                box["result"] = handler(event, context)
            except BaseException as error:
                box["error"] = error
            finally:
                if slot is not None:
                    slot.release()
                done.set()

        threading.Thread(target=run, name=f"lambda:{logical_id}:{request_id[:8]}", daemon=True).start()
        limit = function.spec.timeout if wait_seconds is None else min(wait_seconds, function.spec.timeout)
        if not done.wait(limit):
            outcome: Outcome = "abandoned" if limit < function.spec.timeout else "timeout"
            _log.error(
                "%s %s after %.1f s (request %s)",
                logical_id,
                "timed out" if outcome == "timeout" else "still running; the caller stopped waiting",
                limit,
                request_id,
            )
            return finish(outcome)
        if "error" in box:
            failure: BaseException = box["error"]
            _log.error(
                "%s raised %s (request %s)",
                logical_id,
                type(failure).__name__,
                request_id,
                exc_info=(type(failure), failure, failure.__traceback__),
            )
            return finish("error", error=failure)
        return finish("ok", result=box.get("result"))

    def _handler(self, function: LambdaFunction) -> Handler:
        with self._load_lock:  # one cold start per function, even when the first requests arrive together
            handler = self._handlers.get(function.logical_id)
            if handler is None:
                handler = _load_handler(function, on_path=function.code_dir in self._sibling_dirs)
                self._handlers[function.logical_id] = handler
            return handler

    def _check_environment(self, logical_id: str) -> None:
        expected = self._expected_environment.get(logical_id, {})
        drifted = sorted(name for name, value in expected.items() if os.environ.get(name) != value)
        if drifted:
            raise RuntimeError(
                f"{logical_id}'s environment changed after the stack set it: {', '.join(drifted)}. Functions share "
                "this process's environment; something else overwrote it."
            )


def _load_handler(function: LambdaFunction, *, on_path: bool) -> Handler:
    module_path, _, attribute = function.spec.handler.rpartition(".")
    if not module_path:
        raise ValueError(f"{function.logical_id}: Handler {function.spec.handler!r} is not <module>.<function>")
    file = function.code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
    if on_path and str(function.code_dir) not in sys.path:
        sys.path.append(str(function.code_dir))
    module_name = f"lambda_{function.logical_id}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"{function.logical_id}: no handler module at {file}")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing: dataclasses and pydantic look their module up in sys.modules.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]  # the next invocation retries the cold start, as Lambda does
        raise
    return _handler_attribute(module, attribute, function.logical_id)


def _handler_attribute(module: ModuleType, attribute: str, logical_id: str) -> Handler:
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise ImportError(f"{logical_id}: {module.__file__} has no callable {attribute!r}")
    typed: Handler = handler
    return typed


def _check_sibling_modules(functions_: Iterable[LambdaFunction]) -> set[Path]:
    """Code directories whose handler imports sibling modules (on AWS the code directory is the task root). Each such
    directory must go on ``sys.path``; two of them with a module of the same name would shadow each other here."""
    owners: dict[str, Path] = {}
    dirs: set[Path] = set()
    for function in functions_:
        handler_module = function.spec.handler.rpartition(".")[0].split(".")[0]
        for entry in sorted(function.code_dir.iterdir()) if function.code_dir.is_dir() else []:
            name = entry.stem if entry.suffix == ".py" else entry.name
            is_module = (entry.suffix == ".py" and entry.name != "__init__.py") or (
                entry.is_dir() and any(entry.glob("*.py"))
            )
            if not is_module or name == handler_module:
                continue
            dirs.add(function.code_dir)
            if name in owners and owners[name] != function.code_dir:
                raise ValueError(
                    f"{owners[name]} and {function.code_dir} both have a top-level module {name!r}; the local "
                    "gateway runs all functions in one process, where one would shadow the other. Rename one."
                )
            owners[name] = function.code_dir
    return dirs


def _execution_environment() -> Any:
    """The layer's marker of the execution environment an invocation runs in (``web/dependencies.py``)."""
    # Imported here: the layer joins sys.path when the stack starts, after this module has been imported.
    from asana_integration.web.dependencies import EXECUTION_ENVIRONMENT  # noqa: PLC0415

    return EXECUTION_ENVIRONMENT
