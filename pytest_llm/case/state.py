"""What pytest_llm knows about one LLM case while it runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from pytest_llm.case.options import CaseOptions
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.cassette.tool_calls import ToolCall
from pytest_llm.config.settings import Mode
from pytest_llm.providers import llm_call

if TYPE_CHECKING:
    from pytest_llm.case.samples import SampleResults
    from pytest_llm.replay.case_runner import Before
    from pytest_llm.replay.recorded_tools import ToolSession


class DatasetMembership(TypedDict):
    """The data set a case's record comes from (set at collection)."""

    path: str
    min_pass_rate: float | None
    #: How many records the data set holds, and this record's id (a shard runs only some).
    size: int | None
    record: str | None


class CallLog(list[llm_call.LLMCall]):
    """The calls made so far in the current run of the test (``llm_calls``); ``history`` keeps
    every call of every run (samples) for the report."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[llm_call.LLMCall] = []

    def add(self, interaction: Interaction) -> None:
        call = llm_call.describe(interaction)
        self.append(call)
        self.history.append(call)

    def reset(self) -> None:
        """Forget every call (before the same body runs again in another mode)."""
        self.clear()
        self.history.clear()

    @property
    def total_tokens(self) -> int:
        return sum(call.total_tokens for call in self)


@dataclasses.dataclass
class CassetteView:
    """The current cassette (``llm_cassette``): where it is, how it is used, what it holds."""

    path: Path
    shown: str = ""  # the path as messages show it (relative to the rootdir)
    mode: str = "replay"
    interactions: list[Interaction] = dataclasses.field(default_factory=list)
    #: The calls of ``@llm_tool`` functions it holds (its ``tools:`` list).
    tool_calls: list[ToolCall] = dataclasses.field(default_factory=list)

    @property
    def exists(self) -> bool:
        return self.path.exists()


@dataclasses.dataclass
class Case:
    nodeid: str
    options: CaseOptions
    cassette: CassetteView
    module_dir: Path | None = None  # the test module's folder: relative schema paths start here
    calls: CallLog = dataclasses.field(default_factory=CallLog)
    #: The data set of a record case; set at collection and kept across re-runs of the item.
    dataset: DatasetMembership | None = None
    #: The runs of the body and their outcomes, once it ran.
    samples: SampleResults | None = None
    #: Of a sequential case, for the current pass through a cassette: given (passed, total)
    #: so far, whether its verdict is settled and sampling stops (set by the case runner).
    stop_sampling: Callable[[int, int], bool] | None = None
    #: Under --llm-rerecord: whether the case was compared, its outcome on the old cassette
    #: (None: no old cassette) and the old cassette's interactions.
    rerecorded: bool = False
    before: Before | None = None
    previous: list[Interaction] | None = None
    #: Embeddings fetched in the current pass through the cassette, by (model, text).
    embeddings: dict[tuple[str, str], list[float]] = dataclasses.field(default_factory=dict)
    #: The ``@llm_tool`` calls of the current pass through the cassette (None: no pass runs).
    tool_session: ToolSession | None = None
    #: Of a recorded case whose tools got old results (``--llm-tools replay``): the tool calls
    #: that ran live because the old cassette did not record their arguments.
    live_tool_calls: list[ToolCall] | None = None

    @property
    def path(self) -> Path:
        return self.cassette.path

    def release(self) -> None:
        """Drop what the finished case no longer needs: recorded bodies, calls, comparisons."""
        self.cassette.interactions = []
        self.cassette.tool_calls = []
        self.tool_session = None
        self.live_tool_calls = None
        self.calls.reset()
        self.samples = None
        self.stop_sampling = None
        self.rerecorded = False
        self.before = None
        self.previous = None
        self.embeddings = {}

    def record_command(self, mode: Mode) -> str:
        flag = "--llm-rerecord" if mode is Mode.RERECORD else "--llm-record"
        return f"pytest {flag} '{self.nodeid}'"
