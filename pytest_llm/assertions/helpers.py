"""The ``assert_*`` helpers: each raises AssertionError with a message a person can act on,
and returns what it measured so a test can log it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pytest_llm import errors
from pytest_llm.assertions import json_extraction, judge, pii, schemas, similarity
from pytest_llm.config.settings import DEFAULT_SIMILARITY_THRESHOLD
from pytest_llm.replay import active_case

DEFAULT_JUDGE_THRESHOLD = 0.7
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"


def _excerpt(text: Any, width: int = 300) -> str:
    shown = repr(text) if isinstance(text, str) else repr(str(text))
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def _threshold(threshold: float | None) -> float:
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
        return threshold
    running = active_case.current()
    return running.engine.settings.similarity_threshold if running else DEFAULT_SIMILARITY_THRESHOLD


def _method_label(method: str, model: str | None) -> str:
    if method == "embedding":
        running = active_case.current()
        chosen = model or (running.engine.settings.embedding_model if running else None)
        return f"method={method}, model={chosen}"
    if method == "fuzzy":
        return "method=fuzzy, scorer=rapidfuzz token_sort_ratio"
    return f"method={method}" + (f", model={model}" if model else "")


# --------------------------------------------------------------------------- similarity


def assert_similar(
    actual: str,
    expected: str | Sequence[str],
    *,
    threshold: float | None = None,
    method: str = "embedding",
    model: str | None = None,
) -> float:
    """``actual`` means the same as ``expected`` (or the closest of several): returns the best score."""
    __tracebackhide__ = True
    candidates = [expected] if isinstance(expected, str) else list(expected)
    if not candidates:
        raise ValueError("assert_similar needs at least one expected text")
    limit = _threshold(threshold)
    found = similarity.scores(str(actual), candidates, method=method, model=model)
    best = max(range(len(found)), key=found.__getitem__)
    if found[best] >= limit:
        return found[best]
    lines = [
        f"texts are not similar enough ({_method_label(method, model)}): "
        f"score {found[best]:.3f} < threshold {limit:.3f}",
        f"  actual:   {_excerpt(actual)}",
    ]
    if len(candidates) == 1:
        lines.append(f"  expected: {_excerpt(candidates[0])}")
    else:
        lines += [
            f"  expected[{index}]: {found[index]:.3f} {_excerpt(text)}"
            + ("  <- best" if index == best else "")
            for index, text in enumerate(candidates)
        ]
    raise AssertionError("\n".join(lines))


def assert_consistent(
    outputs: Sequence[str], *, threshold: float | None = None, method: str = "embedding"
) -> float:
    """Every pair of ``outputs`` (e.g. answers of repeated samples) is at least ``threshold``
    similar; returns the lowest pairwise similarity."""
    __tracebackhide__ = True
    texts = [str(output) for output in outputs]
    if len(texts) < 2:
        raise ValueError(f"assert_consistent needs at least two outputs, got {len(texts)}")
    limit = _threshold(threshold)
    pairs = similarity.pairwise(texts, method=method)
    i, j, lowest = min(pairs, key=lambda pair: pair[2])
    if lowest >= limit:
        return lowest
    below = sum(1 for pair in pairs if pair[2] < limit)
    raise AssertionError(
        f"outputs are not consistent ({_method_label(method, None)}): {below} of {len(pairs)} pairs "
        f"below threshold {limit:.3f}; least similar pair scores {lowest:.3f}:\n"
        f"  output[{i}]: {_excerpt(texts[i])}\n  output[{j}]: {_excerpt(texts[j])}"
    )


# --------------------------------------------------------------------------- structure


def assert_schema(output: Any, schema: Any) -> Any:
    """``output`` (a dict/list, or text holding JSON) conforms to ``schema``; returns the parsed object."""
    __tracebackhide__ = True
    running = active_case.current()
    base = running.case.module_dir if running is not None else None
    loaded = schemas.load_schema(schema, base=base)
    note = ""
    if isinstance(output, (str, bytes)):
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
        try:
            extracted = json_extraction.extract_json(text)
        except errors.NoJSONFound as error:
            raise AssertionError(f"no JSON found in the output: {error}") from None
        value = extracted.value
        if extracted.others:
            note = f" (the output holds {extracted.others + 1} JSON values; the first was checked)"
    else:
        value = output
    problems = schemas.violations(value, loaded)
    if not problems:
        return value
    title = loaded.get("title")
    raise AssertionError(
        f"output does not match the schema{f' {title!r}' if isinstance(title, str) else ''}{note}: "
        f"{len(problems)} violation(s)\n  "
        + "\n  ".join(problems)
        + f"\n  output: {_excerpt(value)}"
    )


# --------------------------------------------------------------------------- safety


def assert_no_pii(text: str, *, kinds: Iterable[str] | None = None) -> list[pii.Finding]:
    """``text`` holds no personal data or secrets (masked in the message); returns the findings
    (an empty list when it passes)."""
    __tracebackhide__ = True
    findings = pii.find_pii(str(text), kinds)
    if not findings:
        return findings
    lines = [f"  {finding.kind}: {finding.masked()} at {finding.start}" for finding in findings]
    raise AssertionError(f"personal data or secrets found ({len(findings)}):\n" + "\n".join(lines))


def assert_moderation(
    text: str,
    *,
    categories: Iterable[str] | None = None,
    threshold: float | None = None,
    model: str | None = None,
) -> dict[str, float]:
    """The moderation endpoint does not flag ``text`` (or, with ``threshold``, no category scores
    above it; ``categories`` restricts which count). Returns the category scores."""
    __tracebackhide__ = True
    running = active_case.require("assert_moderation")
    chosen = model or DEFAULT_MODERATION_MODEL
    reply = running.engine.sync_client().moderations.create(model=chosen, input=str(text))
    result = reply.results[0].model_dump(by_alias=True)
    scores: dict[str, float] = {
        name: float(value)
        for name, value in (result.get("category_scores") or {}).items()
        if value is not None
    }
    flags: dict[str, bool] = {
        name: bool(value) for name, value in (result.get("categories") or {}).items()
    }
    wanted = list(categories) if categories is not None else None
    if wanted is not None:
        unknown = [name for name in wanted if name not in scores and name not in flags]
        if unknown:
            raise ValueError(
                f"unknown moderation categories {unknown}; known: {', '.join(sorted(scores))}"
            )
    considered = wanted if wanted is not None else sorted(set(scores) | set(flags))
    if threshold is not None:
        offending = [name for name in considered if scores.get(name, 0.0) > threshold]
        rule = f"score above {threshold:g}"
    elif wanted is None:
        offending = [name for name in considered if flags.get(name)] or (
            ["flagged"] if result.get("flagged") else []
        )
        rule = "flagged"
    else:
        offending = [name for name in considered if flags.get(name)]
        rule = "flagged"
    if not offending:
        return scores
    shown = ", ".join(
        f"{name} {scores[name]:.3f}" if name in scores else name
        for name in sorted(offending, key=lambda n: -scores.get(n, 0.0))
    )
    raise AssertionError(f"moderation ({chosen}) {rule}: {shown}\n  text: {_excerpt(text)}")


# --------------------------------------------------------------------------- speed


def assert_latency(budget_s: float, *, ttft_s: float | None = None) -> float:
    """Every LLM call made so far in this test completed within ``budget_s`` seconds (and every
    streamed one delivered its first token within ``ttft_s``); returns the slowest latency.
    In replay these are the recorded figures."""
    __tracebackhide__ = True
    running = active_case.require("assert_latency")
    made = list(running.case.calls)
    if not made:
        raise AssertionError("assert_latency: no LLM call was made so far in this test")
    strict = running.engine.settings.unknown_figures != "ignore"
    problems = []
    for number, call in enumerate(made, start=1):
        where = f"call #{number} ({call.endpoint}, {call.model})"
        if call.latency_s is None:
            if strict:
                problems.append(f"{where}: latency unknown (the call did not report it)")
        elif call.latency_s > budget_s:
            problems.append(f"{where} took {call.latency_s:.3f} s > {budget_s:g} s")
        if ttft_s is None or not call.stream:
            continue
        if call.ttft_s is None:
            if strict:
                problems.append(
                    f"{where}: time to first token unknown (the call did not report it)"
                )
        elif call.ttft_s > ttft_s:
            problems.append(f"{where} first token after {call.ttft_s:.3f} s > {ttft_s:g} s")
    if ttft_s is not None and strict and not any(call.stream for call in made):
        problems.append("ttft_s: no call was streamed, so no time to first token was measured")
    if problems:
        raise AssertionError("LLM calls too slow:\n  " + "\n  ".join(problems))
    return max(call.latency_s or 0.0 for call in made)


# --------------------------------------------------------------------------- judged


def assert_judged(
    output: str, criteria: str, *, threshold: float | None = None, model: str | None = None
) -> float:
    """An LLM (default: the run's model) grades ``output`` against ``criteria`` with a score in
    [0, 1] and a reason; passes at ``threshold`` (default 0.7). The grading call is recorded."""
    __tracebackhide__ = True
    running = active_case.require("assert_judged")
    limit = DEFAULT_JUDGE_THRESHOLD if threshold is None else threshold
    chosen = model or running.engine.settings.model
    reply = running.engine.sync_client().chat.completions.create(  # type: ignore[call-overload]
        model=chosen,
        temperature=0,
        response_format={"type": "json_object"},
        messages=judge.judge_messages(str(output), criteria),
    )
    # a judge's answer that cannot be read is the judge's fault, not the output's: it raises
    # JudgeAnswerError (an error of the test, which no data-set gate tolerates)
    verdict = judge.parse_verdict(reply.choices[0].message.content or "")
    if verdict.score >= limit:
        return verdict.score
    raise AssertionError(
        f"judged below threshold by {chosen}: score {verdict.score:.2f} < {limit:.2f}\n"
        f"  criteria: {criteria}\n  reason:   {verdict.reason or '(none given)'}\n  output:   {_excerpt(output)}"
    )
