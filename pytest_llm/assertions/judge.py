"""``assert_judged``: an LLM grades an output against criteria and answers with JSON."""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_llm.assertions.json_extraction import extract_json
from pytest_llm.errors import JudgeAnswerError, NoJSONFound

JUDGE_SYSTEM_PROMPT = (
    "You are a strict, impartial grader. Grade how well the OUTPUT meets the CRITERIA. "
    'Answer with JSON only: {"score": <number from 0 to 1>, "reason": "<one or two sentences>"}. '
    "1 means the criteria are fully met, 0 means not at all."
)


@dataclasses.dataclass(frozen=True)
class Verdict:
    score: float
    reason: str
    raw: str


def judge_messages(output: str, criteria: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
        {"role": "user", "content": f"CRITERIA:\n{criteria}\n\nOUTPUT:\n{output}"},
    ]


def parse_verdict(answer: str) -> Verdict:
    """The verdict in a judge's answer, JSON possibly wrapped in prose or a fence. The score is
    on the 0-1 scale the judge is asked for; another scale counts only when the answer names it
    (``"out_of": 10``). Guessing the scale from the number would read "1 out of 10" as a full
    score and "2 out of 10" as a poor one."""
    try:
        found: Any = extract_json(answer).value
    except NoJSONFound:
        raise JudgeAnswerError(
            f"the judge answered without a JSON verdict: {answer[:300]!r}"
        ) from None
    if (
        not isinstance(found, dict)
        or not isinstance(found.get("score"), (int, float))
        or isinstance(found.get("score"), bool)
    ):
        raise JudgeAnswerError(f"the judge's JSON has no numeric 'score': {answer[:300]!r}")
    score = float(found["score"])
    out_of = found.get("out_of", found.get("max_score"))
    if isinstance(out_of, (int, float)) and not isinstance(out_of, bool) and out_of > 0:
        score /= float(out_of)
    if not 0.0 <= score <= 1.0:
        raise JudgeAnswerError(
            f"the judge's score {found['score']!r} is outside the 0-1 scale it was asked for "
            f'(a judge on another scale must say so, e.g. "out_of": 10): {answer[:300]!r}'
        )
    reason = found.get("reason")
    return Verdict(score=score, reason=reason if isinstance(reason, str) else "", raw=answer)
