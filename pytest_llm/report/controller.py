"""The controller's side of a run: it alone gathers the cases' results (from every xdist
worker, through the test reports), prints the summary, sets the exit status and writes the
report file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llm.case import unused_cassettes
from pytest_llm.config.settings import Settings
from pytest_llm.report import run_report
from pytest_llm.report.case_payload import PROPERTY


class LLMSession:
    """Registered as a plugin on the controller only (never on an xdist worker)."""

    def __init__(
        self, settings: Settings, prices: dict[str, tuple[float, float]], *, prune: bool = False
    ) -> None:
        self.settings = settings
        self.report = run_report.RunReport(mode=settings.mode.value, prices=prices)
        self.usage = unused_cassettes.CassetteUsage()
        self.prune = prune
        self.unused: list[Path] = []
        self.pruned: list[Path] = []
        self.report_error: str | None = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: object, error: object) -> None:
        """xdist: merge what a worker found about cassette usage."""
        output = getattr(node, "workeroutput", {}) or {}
        data = output.get(unused_cassettes.WORKER_OUTPUT_KEY)
        if isinstance(data, dict):
            self.usage.merge(data)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name != PROPERTY or not isinstance(value, dict):
                continue
            tolerated = value.get("tolerated")
            outcome = "failed" if tolerated else report.outcome
            self.report.cases.append(
                _entry(
                    report.nodeid, outcome, value, tolerated if isinstance(tolerated, str) else None
                )
            )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        failing_gates = [gate for gate in self.report.gates() if not gate.ok]
        regressed = self.report.by_change()["regressed"]
        if (failing_gates or regressed) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        path = self.settings.report_path
        if path is not None:
            try:
                write_report(self.report, path)
            except OSError as error:  # checked at configure time; the disk can still change
                self.report_error = (
                    f"pytest-llm: the LLM report could not be written to {path}: "
                    f"{error.strerror or error}"
                )
                if session.exitstatus == pytest.ExitCode.OK:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.usage.filtered is None and session.exitstatus != pytest.ExitCode.INTERRUPTED:
            self.unused = self.usage.unused()
            if self.prune:
                self.pruned = unused_cassettes.prune(self.unused)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self._unused_summary(terminalreporter)
        if self.report_error is not None:
            terminalreporter.write_sep("=", "LLM report", red=True)
            terminalreporter.write_line(self.report_error, red=True)
        lines = self.report.summary_lines(terminalreporter.config.get_verbosity())
        if not lines:
            return
        title = (
            "LLM behaviour changes" if self.settings.mode.value == "rerecord" else "LLM data sets"
        )
        terminalreporter.write_sep("=", title)
        for line in lines:
            markup = (
                {"red": True} if line.startswith("REGRESSED") or "BELOW THE GATE" in line else {}
            )
            markup = {"green": True} if line.startswith("FIXED") else markup
            terminalreporter.write_line(line, **markup)
        if self.settings.report_path is not None and self.report_error is None:
            terminalreporter.write_line(f"LLM report written to {self.settings.report_path}")

    def _unused_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.unused:
            return
        root = terminalreporter.config.rootpath
        terminalreporter.write_sep("=", "LLM unused cassettes")
        if self.pruned:
            terminalreporter.write_line(
                f"{len(self.pruned)} cassette(s) used by no collected case, deleted:"
            )
        else:
            terminalreporter.write_line(
                f"{len(self.unused)} cassette(s) used by no collected case (delete them with pytest --llm-prune):"
            )
        for path in self.unused:
            terminalreporter.write_line(f"  {_relative(path, root)}")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _entry(
    nodeid: str, outcome: str, data: dict[str, object], tolerated: str | None
) -> run_report.CaseEntry:
    message = data.get("message")
    return run_report.CaseEntry(
        id=nodeid,
        outcome=outcome,
        data=dict(data),
        tolerated=tolerated,
        message=message if isinstance(message, str) else None,
    )


def write_report(run: run_report.RunReport, path: Path) -> None:
    from pytest_llm.cassette.file_format import write_atomically

    text = run.render_markdown() if path.suffix.lower() == ".md" else run.render_json()
    write_atomically(path, text)
