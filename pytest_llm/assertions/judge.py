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
    """The verdict in a judge's answer, JSON possibly wrapped in prose or a fence. A score on a
    0-10 or 0-100 scale is brought to 0-1."""
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
    if 1.0 < score <= 10.0:
        score /= 10.0
    elif 10.0 < score <= 100.0:
        score /= 100.0
    if not 0.0 <= score <= 1.0:
        raise JudgeAnswerError(
            f"the judge's score {found['score']!r} is not on a 0-1, 0-10 or 0-100 scale"
        )
    reason = found.get("reason")
    return Verdict(score=score, reason=reason if isinstance(reason, str) else "", raw=answer)
