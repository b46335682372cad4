"""What pytest_llm knows about one LLM case while it runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pytest_llm.case.options import CaseOptions
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.config.settings import Mode
from pytest_llm.providers import llm_call


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
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.cassette.path

    def release(self) -> None:
        """Drop what the finished case no longer needs: recorded bodies, calls, comparisons."""
        self.cassette.interactions = []
        self.calls.reset()
        kept = {"dataset": self.extra["dataset"]} if "dataset" in self.extra else {}
        self.extra.clear()
        self.extra.update(kept)  # set at collection: a re-run of the item needs it again

    def record_command(self, mode: Mode) -> str:
        flag = "--llm-rerecord" if mode is Mode.RERECORD else "--llm-record"
        return f"pytest {flag} '{self.nodeid}'"
