"""Recorded tools: ``@llm_tool`` functions whose calls go through the case's cassette.

The decorator wraps a sync or async function. Outside an LLM case the wrapper only calls it.
Inside one, it asks the case's :class:`ToolSession` (one per pass through the cassette, set by
the case runner): in replay the recorded result answers and the function does not run; while
recording the function runs and its call is stored (with ``--llm-tools replay``, a call whose
arguments the old cassette recorded gets the old result instead, and the others run live).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import inspect
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pytest_llm.cassette.tool_calls import ToolCall, ToolKey, as_json_data, tool_key
from pytest_llm.errors import RecordedToolException, ReplayMiss, ToolCallError
from pytest_llm.replay import active_case

if TYPE_CHECKING:  # importing pytest_llm stays cheap: these load with the first case
    from pytest_llm.cassette.scrubbing import Scrubber
    from pytest_llm.replay.recorder import MissContext

F = TypeVar("F", bound=Callable[..., Any])

#: Leading parameters of methods and class methods: the object is not a tool argument.
_BOUND_PARAMETERS = ("self", "cls")


@dataclasses.dataclass(frozen=True)
class _Answer:
    result: Any
    raised: dict[str, str] | None = None

    def give(self, name: str) -> Any:
        """The recorded result, or the recorded exception raised again."""
        if self.raised is not None:
            raise rebuilt_exception(name, self.raised)
        return self.result


class ToolSession:
    """One pass's view of a case's tool calls: replays ``recorded``, or records new calls.

    ``positional`` (the "before" run of a re-record): a call answered by the recording with
    the same arguments, else by the next unused recording of the same tool. ``previous``
    (recording with ``--llm-tools replay``): old calls that answer a call with the same
    arguments instead of running the function; the calls that ran live are in ``live``.
    """

    def __init__(
        self,
        recorded: Sequence[ToolCall],
        *,
        recording: bool,
        scrubber: Scrubber,
        miss_context: MissContext,
        positional: bool = False,
        previous: Sequence[ToolCall] | None = None,
    ) -> None:
        self.recording = recording
        self.scrubber = scrubber
        self.miss_context = miss_context
        self.positional = positional
        self.replays_old_results = previous is not None
        self.answering = list(previous or ()) if recording else list(recorded)
        self.misses: list[ReplayMiss] = []
        self.failures: list[ToolCallError] = []
        self.live: list[ToolCall] = []
        self.played = 0
        self._slots: list[ToolCall | None] = []
        self._used: set[int] = set()
        self._unplayed: dict[ToolKey, collections.deque[int]] = collections.defaultdict(
            collections.deque
        )
        for index, call in enumerate(self.answering):
            self._unplayed[call.key].append(index)
        self._lock = threading.Lock()

    @property
    def new(self) -> list[ToolCall]:
        """The calls recorded in this pass, in the order they were made."""
        return [call for call in self._slots if call is not None]

    # -- answering -----------------------------------------------------------------

    def answer(self, name: str, arguments: dict[str, Any]) -> _Answer | None:
        """The recorded result for a call, or None when the function must run (recording);
        in replay a call nothing answers raises :class:`ReplayMiss`."""
        with self._lock:
            index = self._take(name, arguments)
            if index is not None:
                self._used.add(index)
                self.played += 1
                old = self.answering[index]
                if self.recording:  # the old result, stored again in the new recording
                    self._slots.append(ToolCall(name, arguments, old.result, old.raised))
        if index is not None:
            return _Answer(copy.deepcopy(old.result), old.raised)
        if self.recording:
            return None
        miss = ReplayMiss(self._miss_message(name, arguments))
        self.misses.append(miss)
        raise miss

    def _take(self, name: str, arguments: dict[str, Any]) -> int | None:
        queue = self._unplayed.get(tool_key(name, arguments))
        while queue:
            index = queue.popleft()
            if index not in self._used:
                return index
        if self.positional:  # changed arguments: the next unused recording of the tool
            for index, call in enumerate(self.answering):
                if call.name == name and index not in self._used:
                    return index
        return None

    # -- recording -----------------------------------------------------------------

    def reserve(self) -> int:
        """A place for a call about to run: calls are stored in the order they start."""
        with self._lock:
            self._slots.append(None)
            return len(self._slots) - 1

    def store(self, slot: int, name: str, arguments: dict[str, Any], result: Any) -> None:
        data = _json_data(
            result,
            self.failures,
            f"the result of the recorded tool {name!r} is not JSON data",
            "a @llm_tool function must return what JSON can store (dicts, lists, strings, "
            "numbers, booleans, None).",
        )
        call = ToolCall(name, arguments, self.scrubber.data(data))
        with self._lock:
            self._slots[slot] = call
            if self.replays_old_results:
                self.live.append(call)

    def store_raised(
        self, slot: int, name: str, arguments: dict[str, Any], error: Exception
    ) -> None:
        """Store the exception a call raised (its class and scrubbed message)."""
        kind = type(error)
        raised = {
            "type": f"{kind.__module__}:{kind.__qualname__}",
            "message": self.scrubber.text(str(error)),
        }
        call = ToolCall(name, arguments, None, raised)
        with self._lock:
            self._slots[slot] = call
            if self.replays_old_results:
                self.live.append(call)

    # -- messages ------------------------------------------------------------------

    def _miss_message(self, name: str, arguments: dict[str, Any]) -> str:
        context = self.miss_context
        lines = [
            f"pytest-llm: no recorded result for a tool call of {context.nodeid} (replay mode).",
            f"  tool call: {ToolCall(name, arguments, None).describe()}",
        ]
        if not context.cassette_exists:
            lines.append(f"  cassette: {context.shown_path} does not exist yet.")
        else:
            lines.append(
                f"  cassette: {context.shown_path} ({len(self.answering)} tool calls recorded, "
                f"{self.played} replayed so far)"
            )
            lines += self._nearest_lines(name, arguments)
        lines.append(f"  To record it: {context.record_command}")
        return "\n".join(lines)

    def _nearest_lines(self, name: str, arguments: dict[str, Any]) -> list[str]:
        from pytest_llm.cassette import matching

        same_tool = [
            (index, call) for index, call in enumerate(self.answering) if call.name == name
        ]
        if not same_tool:
            names = sorted({call.name for call in self.answering})
            known = f" (it records {', '.join(names)})" if names else ""
            return [f"  The cassette holds no call of the tool {name!r}{known}."]
        if all(
            index in self._used
            for index, call in same_tool
            if call.key == tool_key(name, arguments)
        ) and any(call.key == tool_key(name, arguments) for _, call in same_tool):
            return [
                "  The recordings of this call were all replayed already: the test now makes "
                "this call more often than when it was recorded."
            ]
        index, nearest = min(
            same_tool,
            key=lambda item: len(matching.data_differences(item[1].arguments, arguments)),
        )
        differences = matching.data_differences(nearest.arguments, arguments)
        return [
            f"  nearest recorded call: #{index + 1} {nearest.describe()}, which differs in:"
        ] + [f"    {line}" for line in differences]


# --------------------------------------------------------------------------- the decorator


@overload
def llm_tool(function: F, /) -> F: ...


@overload
def llm_tool(*, name: str | None = None) -> Callable[[F], F]: ...


def llm_tool(function: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Record the calls of a function the application runs as a tool for the model.

    Inside an LLM case each call is stored in the case's cassette with its arguments and its
    JSON result; in replay the recorded result is returned and the function does not run.
    Outside an LLM case the function behaves exactly as it is. ``name`` (default: the
    function's ``__name__``) is the tool's name in the cassette.
    """
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"@llm_tool(name={name!r}): the name must be a non-empty string")

    def decorate(wrapped: F) -> F:
        if not callable(wrapped):
            raise TypeError(
                f"@llm_tool wraps a function, not {type(wrapped).__name__} {wrapped!r:.60}; "
                "to name the tool, write @llm_tool(name=...)"
            )
        return _wrap(wrapped, name or str(getattr(wrapped, "__name__", "tool")))

    return decorate if function is None else decorate(function)


def _wrap(function: F, name: str) -> F:
    try:
        signature: inspect.Signature | None = inspect.signature(function)
    except (TypeError, ValueError):
        signature = None

    def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[ToolSession, Any] | None:
        active = active_case.current_or_only()
        session = None if active is None else active.case.tool_session
        if session is None:
            return None
        arguments = _arguments(name, signature, args, kwargs)
        data = _json_data(
            arguments,
            session.failures,
            f"the arguments of the recorded tool {name!r} are not JSON data",
            "a @llm_tool function takes what JSON can store, so that its calls can be recorded "
            "and matched.",
        )
        return session, session.scrubber.data(data)

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            prepared = prepare(args, kwargs)
            if prepared is None:
                return await function(*args, **kwargs)
            session, arguments = prepared
            answer = session.answer(name, arguments)
            if answer is not None:
                return answer.give(name)
            slot = session.reserve()
            try:
                result = await function(*args, **kwargs)
            except Exception as error:
                session.store_raised(slot, name, arguments, error)
                raise
            session.store(slot, name, arguments, result)
            return result

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(function)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            prepared = prepare(args, kwargs)
            if prepared is None:
                return function(*args, **kwargs)
            session, arguments = prepared
            answer = session.answer(name, arguments)
            if answer is not None:
                return answer.give(name)
            slot = session.reserve()
            try:
                result = function(*args, **kwargs)
            except Exception as error:
                session.store_raised(slot, name, arguments, error)
                raise
            session.store(slot, name, arguments, result)
            return result

        wrapper = sync_wrapper
    wrapper.__llm_tool__ = name  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _arguments(
    name: str, signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The call's arguments by parameter name, as given (defaults not filled in); a call the
    signature does not accept raises the TypeError that calling the function would."""
    if signature is None:
        return {"args": list(args), "kwargs": kwargs} if args else dict(kwargs)
    bound = signature.bind(*args, **kwargs)
    arguments = dict(bound.arguments)
    parameters = list(signature.parameters.values())
    if parameters and parameters[0].name in _BOUND_PARAMETERS and args:
        arguments.pop(parameters[0].name, None)
    for parameter in parameters:  # **kwargs: its items are arguments of their own
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and parameter.name in arguments:
            arguments.update(arguments.pop(parameter.name))
    return arguments


def rebuilt_exception(name: str, raised: dict[str, str]) -> Exception:
    """The exception a recorded call raised, rebuilt from its class (looked up among the
    modules already imported, never importing one) and message; a
    :class:`RecordedToolException` saying what was recorded when the class cannot be used."""
    module_name, _, qualname = raised["type"].partition(":")
    message = raised["message"]
    found: Any = sys.modules.get(module_name)
    for part in qualname.split(".") if found is not None and qualname else ():
        found = getattr(found, part, None)
    if isinstance(found, type) and issubclass(found, Exception):
        try:
            return found(message)
        except Exception:  # a constructor that takes other arguments
            pass
    return RecordedToolException(
        f"the recorded tool {name!r} raised {raised['type']}: {message} (replayed; that "
        "exception class cannot be rebuilt here)"
    )


def _json_data(value: Any, failures: list[ToolCallError], problem: str, rule: str) -> Any:
    """``value`` as JSON data, or a ToolCallError (also kept in ``failures``: the recording
    fails even when the application swallows it)."""
    try:
        return as_json_data(value)
    except (TypeError, ValueError, RecursionError) as error:
        failure = ToolCallError(f"pytest-llm: {problem} ({type(error).__name__}: {error}); {rule}")
        failures.append(failure)
        raise failure from None
