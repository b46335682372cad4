"""The controller's side of a run: it alone gathers the cases' results (from every xdist
worker, through the test reports), prints the summary, sets the exit status and writes the
report file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llm.case import unused_cassettes
from pytest_llm.config.settings import Settings
from pytest_llm.report import run_report
from pytest_llm.report.case_payload import PROPERTY, CasePayload


class LLMSession:
    """Registered as a plugin on the controller only (never on an xdist worker)."""

    def __init__(
        self, settings: Settings, prices: dict[str, tuple[float, float]], *, prune: bool = False
    ) -> None:
        self.settings = settings
        self.report = run_report.RunReport(
            mode=settings.mode.value,
            prices=prices,
            false_discovery_rate=settings.false_discovery_rate,
        )
        self.usage = unused_cassettes.CassetteUsage()
        self.prune = prune
        self.unused: list[Path] = []
        self.pruned: list[Path] = []
        self.unfollowed: list[Path] = []
        self.prune_refused: str | None = None  # why --llm-prune deleted nothing
        self.report_error: str | None = None
        self.written: list[Path] = []  # the report files written
        self.exit_reasons: list[str] = []  # why the plugin made a green run exit 1

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
            payload = CasePayload.from_dict(value)
            outcome = "failed" if payload.tolerated else report.outcome
            self.report.cases.append(run_report.CaseEntry(report.nodeid, outcome, payload))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        failing_gates = [gate for gate in self.report.gates() if gate.failed]  # not partial ones
        regressed = self.report.by_change()["regressed"]
        if (failing_gates or regressed) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            if regressed:
                self.exit_reasons.append(
                    f"{len(regressed)} case{'' if len(regressed) == 1 else 's'} regressed"
                )
            if failing_gates:
                count = len(failing_gates)
                self.exit_reasons.append(
                    f"{count} data-set gate{'' if count == 1 else 's'} below {'its' if count == 1 else 'their'} min_pass_rate"
                )
        for path in self.settings.report_paths:
            try:
                write_report(self.report, path)
            except (OSError, RecursionError) as error:  # checked at configure time; the disk
                # can still change (RecursionError: pathlib's mkdir of a path nested too deep)
                reason = (
                    (error.strerror or str(error))
                    if isinstance(error, OSError)
                    else "it is nested too deep"
                )
                self.report_error = (
                    f"pytest-llm: the LLM report could not be written to {path}: {reason}"
                )
                if session.exitstatus == pytest.ExitCode.OK:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED
            else:
                self.written.append(path)
        gaps = list(self.usage.gaps)
        if session.exitstatus == pytest.ExitCode.INTERRUPTED:
            gaps.append("the run was interrupted")
        if gaps:  # the run did not see every test: no cassette is known to be unused
            if self.prune:
                self.prune_refused = "; ".join(gaps)
            return
        self.unused = self.usage.unused()
        if self.prune:
            self.unfollowed = self.usage.unfollowed()
            self.pruned = unused_cassettes.prune(self.unused, self.usage.folders)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self._unused_summary(terminalreporter)
        if self.report_error is not None:
            terminalreporter.write_sep("=", "LLM report", red=True)
            terminalreporter.write_line(self.report_error, red=True)
        lines = self.report.summary_lines(terminalreporter.config.get_verbosity())
        title = (
            "LLM behaviour changes"
            if self.settings.mode.value == "rerecord"
            else "LLM data sets"
            if self.report.gates()
            else "LLM recorded tools"
        )
        if lines:
            terminalreporter.write_sep("=", title)
        for line in lines:
            markup = (
                {"red": True} if line.startswith("REGRESSED") or "BELOW THE GATE" in line else {}
            )
            markup = {"green": True} if line.startswith("FIXED") else markup
            terminalreporter.write_line(line, **markup)
        for path in self.written:
            terminalreporter.write_line(f"LLM report written to {path}")
        if self.exit_reasons:
            terminalreporter.write_line(
                f"pytest-llm: exit status 1: {'; '.join(self.exit_reasons)}", red=True, bold=True
            )

    def _unused_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not (self.unused or self.unfollowed or self.prune_refused):
            return
        root = terminalreporter.config.rootpath
        terminalreporter.write_sep("=", "LLM unused cassettes")
        if self.prune_refused:
            terminalreporter.write_line(
                f"--llm-prune deleted nothing: {self.prune_refused}. It deletes cassettes only "
                "after a run that collected every test of the suite.",
                red=True,
            )
            return
        kept = [path for path in self.unused if path not in self.pruned]
        if self.pruned:
            terminalreporter.write_line(
                f"{len(self.pruned)} cassette(s) used by no collected case, deleted:"
            )
            for path in self.pruned:
                terminalreporter.write_line(f"  {_relative(path, root)}")
        if kept:
            terminalreporter.write_line(
                f"{len(kept)} cassette(s) used by no collected case (delete them with pytest --llm-prune):"
                if not self.prune
                else f"{len(kept)} cassette(s) used by no collected case, changed during the run, kept:"
            )
            for path in kept:
                terminalreporter.write_line(f"  {_relative(path, root)}")
        if self.unfollowed:
            terminalreporter.write_line(
                f"{len(self.unfollowed)} symlink(s) in the cassette folders, neither followed nor "
                "deleted (--llm-prune never deletes through a symlink):"
            )
            for path in self.unfollowed:
                terminalreporter.write_line(f"  {_relative(path, root)}")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def write_report(run: run_report.RunReport, path: Path) -> None:
    from pytest_llm.cassette.file_format import write_atomically

    text = run.render_markdown() if path.suffix.lower() == ".md" else run.render_json()
    write_atomically(path, text)
