"""Re-recording changes only what the model says differently: the server returns fresh ids,
timestamps, fingerprints and request-id headers on every call.

Timing figures are measured afresh on every call too, and are rewritten only when they moved
materially (:func:`pytest_llm.cassette.stabilizing.timing_moved`). How much they move depends
on how loaded the machine is, so the end-to-end test below does not bet on them staying put:
it checks every other byte for equality and each timing figure against the rule itself, which
the unit tests further down pin with explicit numbers.
"""

from __future__ import annotations

import difflib
import re

import pytest
import yaml

from pytest_llm.cassette import stabilizing
from pytest_llm.cassette.interaction import Interaction, Timing

SUITE = """
    from pytest_llm import llm_case

    @llm_case
    def test_mixed(llm_client, llm_model):
        llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "plain"}])
        for _ in llm_client.chat.completions.create(
                model=llm_model, stream=True, stream_options={"include_usage": True},
                messages=[{"role": "user", "content": "streamed"}]):
            pass
        llm_client.responses.create(model=llm_model, input="responses")
        llm_client.embeddings.create(model="text-embedding-3-small", input="vector")
"""

ANSWER = "Returns are accepted within thirty days of delivery"

TIMING_FIGURES = ("latency_s", "ttft_s")
TIMING_LINE = re.compile(r"^\s*(?:latency_s|ttft_s):\s")
#: Figures are stored rounded to the millisecond, but compared unrounded when re-recording.
STORED_ROUNDING_S = 0.0005


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def _without_timings(text: str) -> str:
    return "".join(line for line in text.splitlines(True) if not TIMING_LINE.match(line))


def _timings(text: str) -> list[dict[str, float | None]]:
    interactions = yaml.safe_load(text)["interactions"]
    return [{f: (i.get("call") or {}).get(f) for f in TIMING_FIGURES} for i in interactions]


def _assert_timings_kept_unless_moved(before: str, after: str) -> None:
    """Each timing figure is the old one, or a new one that moved beyond the tolerance."""
    old_timings, new_timings = _timings(before), _timings(after)
    assert len(old_timings) == len(new_timings)
    for index, (old, new) in enumerate(zip(old_timings, new_timings, strict=True)):
        for figure in TIMING_FIGURES:
            was, now = old[figure], new[figure]
            if was == now:
                continue
            assert was is not None and now is not None, (index, figure, was, now)
            # the decision was taken on the unrounded measurement, within half a ms of `now`
            assert any(
                stabilizing.timing_moved(was, now + slack)
                for slack in (-STORED_ROUNDING_S, 0.0, STORED_ROUNDING_S)
            ), f"interaction {index}: {figure} rewritten {was} -> {now}, within the tolerance"


def test_same_answers_change_no_byte_and_one_word_changes_only_its_lines(inner):
    inner.write(SUITE)
    inner.server.script(replies=[{"text": ANSWER}])
    inner.record().assert_outcomes(passed=1)
    first = inner.cassette("test_mixed").read_text()

    inner.rerecord().assert_outcomes(passed=1)
    same = inner.cassette("test_mixed").read_text()
    # fresh ids, same answers: no byte changes but a timing figure that moved materially
    assert _without_timings(same) == _without_timings(first)
    _assert_timings_kept_unless_moved(first, same)

    inner.server.script(replies=[{"text": ANSWER.replace("thirty", "forty")}])
    inner.rerecord().assert_outcomes(passed=1)
    reworded = inner.cassette("test_mixed").read_text()
    _assert_timings_kept_unless_moved(same, reworded)
    changed = _changed_lines(_without_timings(first), _without_timings(reworded))
    assert changed, "the new word must show"
    for line in changed:
        assert "thirty" in line or "forty" in line, f"unrelated line changed: {line}"
    # exactly four lines, each once before and once after: the chat answer, the one stream
    # chunk holding the word, the stream's assembled text, the Responses API output text
    assert len(changed) == 8, changed


def test_timing_lines_are_the_only_ones_masked():
    text = "  call:\n    latency_s: 0.002\n    ttft_s: null\n    model: m\n  json: {latency_s: 1}\n"
    assert _without_timings(text) == "  call:\n    model: m\n  json: {latency_s: 1}\n"


# --------------------------------------------------------------------------- the tolerance rule

ABSOLUTE = stabilizing.TIMING_ABSOLUTE_TOLERANCE_S
RELATIVE = stabilizing.TIMING_RELATIVE_TOLERANCE


@pytest.mark.parametrize(
    ("old", "new", "moved"),
    [
        (1.0, 1.0, False),
        (1.0, 1.2, False),  # 0.2 s but 20 %: within the relative tolerance
        (1.0, 0.8, False),  # the same, slower to faster
        (1.0, 1.3, True),  # 0.3 s and 30 %
        (1.0, 0.7, True),
        (0.002, 0.040, False),  # 1900 % but 38 ms: within the absolute tolerance
        (0.002, 0.060, True),  # 58 ms and 2900 %: what a loaded machine can do to a fast call
        (0.0, ABSOLUTE - 0.001, False),
        (0.0, ABSOLUTE + 0.001, True),
        (0.4, 0.4 * (1 + RELATIVE) - 0.001, False),  # 99 ms, just under 25 %
        (0.4, 0.4 * (1 + RELATIVE) + 0.001, True),
        (None, 1.0, False),
        (1.0, None, False),
        (None, None, False),
    ],
)
def test_timing_moves_only_beyond_both_tolerances(old, new, moved):
    assert stabilizing.timing_moved(old, new) is moved


def _embedding(timing: Timing) -> Interaction:
    return Interaction(
        method="POST",
        path="/v1/embeddings",
        request_body=b'{"input": "vector"}',
        status=200,
        response_headers={"content-type": ["application/json"]},
        response_body=b'{"object": "list", "data": []}',
        timing=timing,
    )


@pytest.mark.parametrize(
    ("old", "new", "kept"),
    [
        (Timing(0.002, 0.001), Timing(0.045, 0.030), Timing(0.002, 0.001)),  # both near
        (Timing(0.002, 0.001), Timing(0.300, 0.030), Timing(0.300, 0.001)),  # latency moved
        (Timing(1.0, 0.5), Timing(1.1, 0.9), Timing(1.0, 0.9)),  # ttft moved
        (Timing(1.0, None), Timing(1.1, 0.2), Timing(1.0, 0.2)),  # a new figure is kept as is
        (Timing(1.0, 0.5), Timing(1.1, None), Timing(1.0, None)),  # a gone one stays gone
    ],
)
def test_rerecorded_timings_keep_the_old_figure_unless_it_moved(old, new, kept):
    [stable] = stabilizing.stabilize([_embedding(new)], [_embedding(old)])
    assert stable.timing == kept


TOOL_CONVERSATION = """
    import json
    from pytest_llm import llm_case

    TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]

    @llm_case
    def test_tool_turns(llm_client, llm_model):
        messages = [{"role": "user", "content": "Weather in Paris?"}]
        first = llm_client.chat.completions.create(model=llm_model, messages=messages, tools=TOOLS)
        call = first.choices[0].message.tool_calls[0]
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"c": 21})},
        ]
        final = llm_client.chat.completions.create(model=llm_model, messages=messages, tools=TOOLS)
        assert final.choices[0].message.content == "21 degrees"
"""


def test_a_rerecorded_tool_conversation_replays(inner):
    """The tool call's id carried over into the answer is carried over into the next request
    that sends it back, so the re-recorded conversation replays (a fresh id on every call)."""
    inner.server.script(
        replies=[
            {"match": "weather", "times": 1, "tool_calls": [{"name": "weather", "arguments": {}}]},
            {"match": "weather", "text": "21 degrees"},
        ]
    )
    inner.write(TOOL_CONVERSATION)
    inner.record().assert_outcomes(passed=1)
    recorded_id = inner.cassette("test_tool_turns").read_text().count("call_")
    inner.server.script(
        replies=[
            {"match": "weather", "times": 1, "tool_calls": [{"name": "weather", "arguments": {}}]},
            {"match": "weather", "text": "21 degrees"},
        ]
    )
    inner.rerecord().assert_outcomes(passed=1)
    assert inner.cassette("test_tool_turns").read_text().count("call_") == recorded_id
    inner.replay().assert_outcomes(passed=1)
