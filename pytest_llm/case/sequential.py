"""When a sequential case (``@llm_case(samples=N, sequential=True)``) stops sampling.

* Replay (and the "before" side of a re-record): the runs recorded are the runs replayed. The
  case stops once every recording of its cassette has been played, so it uses exactly as many
  runs as were recorded (a run count the cassette itself does not need to store) and never asks
  for a run that was not recorded.
* Recording a case with no comparison (``--llm-record``, or a re-recorded case with no old
  verdict): curtailment against ``min_pass_rate`` — it stops as soon as the verdict of N runs
  can no longer change (:func:`~pytest_llm.report.significance.gate_settled`).
* Re-recording a case with an old verdict: it stops as soon as the regressed / fixed decision of
  the fixed test on N runs after is settled
  (:func:`~pytest_llm.report.significance.change_settled`).

See docs/rerecord-and-reports.md ("Sequential samples") for the reasoning and the error rates.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_llm.case.options import CaseOptions
from pytest_llm.report import significance

StopRule = Callable[[int, int], bool]


def replay_rule(exhausted: Callable[[], bool]) -> StopRule:
    """Stop once the cassette has no recording left to play."""

    def stop(passed: int, total: int) -> bool:
        return exhausted()

    return stop


def recording_rule(options: CaseOptions, before: tuple[int, int] | None) -> StopRule:
    """Stop live sampling once the verdict is settled: against the old cassette's
    ``[passed, total]`` when there is one, else against ``min_pass_rate``."""
    most, gate = options.samples, options.min_pass_rate
    if before is None or not before[1]:

        def stop(passed: int, total: int) -> bool:
            return significance.gate_settled(passed, total, most=most, min_pass_rate=gate)

        return stop
    counts = (before[0], before[1])

    def stop_compared(passed: int, total: int) -> bool:
        return significance.change_settled(counts, passed, total, most=most, min_pass_rate=gate)

    return stop_compared
