"""Keep re-recorded cassettes quiet: only what the model says differently shows in a diff.

Each new interaction is paired with the old one at the same position among calls to the same
endpoint. Values the API makes up afresh on every call (ids, timestamps, fingerprints, stream
obfuscation padding) are carried over from the old recording, and timing figures are kept
unless they moved materially.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pytest_llm import providers
from pytest_llm.cassette.interaction import Interaction, Timing, parse_json
from pytest_llm.providers import aws_event_stream

#: Body fields whose values change on every call without saying anything about the answer.
#: Each provider lists its own (:attr:`pytest_llm.providers.base.Provider.volatile_fields`).
VOLATILE_FIELDS = providers.volatile_fields()

#: A timing figure is rewritten only when it moved by more than both of these.
TIMING_RELATIVE_TOLERANCE = 0.25
TIMING_ABSOLUTE_TOLERANCE_S = 0.050


def stabilize(new: Sequence[Interaction], old: Sequence[Interaction]) -> list[Interaction]:
    """``new`` with volatile values and near-equal timings taken from ``old``.

    An id carried over into an answer (a tool call's ``id``, a response's ``id``) is carried
    over wherever a later interaction of the cassette sends it back too (``tool_call_id``,
    ``previous_response_id``, a path): in replay the application gets the old id from the
    answer and sends the old id, so the recording it must match holds the old id as well.
    """
    previous: dict[str, list[Interaction]] = defaultdict(list)
    for interaction in old:
        previous[_endpoint_key(interaction)].append(interaction)
    seen: dict[str, int] = defaultdict(int)
    carried: dict[str, str] = {}  # new id -> old id, from the answers so far
    stable = []
    for interaction in new:
        if carried:
            interaction = _with_ids_replaced(interaction, carried)
        key = _endpoint_key(interaction)
        position = seen[key]
        seen[key] += 1
        counterpart = previous[key][position] if position < len(previous[key]) else None
        if counterpart is None:
            stable.append(interaction)
            continue
        steady = _carry_over(interaction, counterpart)
        carried.update(_carried_ids(interaction, counterpart))
        stable.append(steady)
    return stable


#: Only ids this long are followed into later requests (a short value could be anything).
_MIN_ID_LENGTH = 8


def _carried_ids(new: Interaction, old: Interaction) -> dict[str, str]:
    """The string ids of ``new``'s answer that :func:`_carry_over` replaced by ``old``'s."""
    old_values = _volatile_values(old)
    carried: dict[str, str] = {}
    for field, values in _volatile_values(new).items():
        for new_value, old_value in zip(values, old_values.get(field, ()), strict=False):
            if (
                isinstance(new_value, str)
                and isinstance(old_value, str)
                and new_value != old_value
                and len(new_value) >= _MIN_ID_LENGTH
            ):
                carried[new_value] = old_value
    return carried


def _with_ids_replaced(interaction: Interaction, carried: dict[str, str]) -> Interaction:
    """``interaction`` with every carried id (as a JSON string, or in the path) replaced."""
    request_body, response_body, path = (
        interaction.request_body,
        interaction.response_body,
        interaction.path,
    )
    for new_id, old_id in carried.items():
        quoted_new, quoted_old = json.dumps(new_id).encode(), json.dumps(old_id).encode()
        request_body = request_body.replace(quoted_new, quoted_old)
        response_body = _rewritten(
            interaction, response_body, functools.partial(_replaced, new=quoted_new, old=quoted_old)
        )
        path = path.replace(new_id, old_id)
    if (request_body, response_body, path) == (
        interaction.request_body,
        interaction.response_body,
        interaction.path,
    ):
        return interaction
    return dataclasses.replace(
        interaction, request_body=request_body, response_body=response_body, path=path
    )


def _rewritten(interaction: Interaction, body: bytes, rewrite: Callable[[bytes], bytes]) -> bytes:
    """``rewrite`` applied to a response body: to each frame's payload of an AWS event stream
    (whose frames are then encoded again with valid checksums), else to the whole body."""
    if aws_event_stream.is_aws_event_stream(interaction.content_type):
        return aws_event_stream.map_payloads(body, rewrite)
    return rewrite(body)


def _replaced(data: bytes, new: bytes, old: bytes) -> bytes:
    return data.replace(new, old)


def _endpoint_key(interaction: Interaction) -> str:
    return f"{interaction.method} {interaction.path}"


def _carry_over(new: Interaction, old: Interaction) -> Interaction:
    body = new.response_body
    old_values = _volatile_values(old)
    for field, values in _volatile_values(new).items():
        replacements = {
            json.dumps(new_value).encode(): json.dumps(old_value).encode()
            for new_value, old_value in zip(values, old_values.get(field, ()), strict=False)
            if new_value != old_value and type(new_value) is type(old_value)
        }
        if replacements:
            body = _rewritten(
                new,
                body,
                functools.partial(_replace_field_values, field=field, replacements=replacements),
            )
    return dataclasses.replace(
        new,
        response_body=body,
        timing=Timing(
            latency_s=_steady(new.timing.latency_s, old.timing.latency_s),
            ttft_s=_steady(new.timing.ttft_s, old.timing.ttft_s),
        ),
    )


def timing_moved(old: float | None, new: float | None) -> bool:
    """Whether a timing figure moved by more than both re-recording tolerances."""
    if old is None or new is None:
        return False
    moved = abs(new - old)
    return moved > TIMING_ABSOLUTE_TOLERANCE_S and moved > TIMING_RELATIVE_TOLERANCE * old


def _steady(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or timing_moved(old, new):
        return new
    return old


def _volatile_values(interaction: Interaction) -> dict[str, list[Any]]:
    """Distinct values of each volatile field, in order of first appearance."""
    found: dict[str, list[Any]] = defaultdict(list)
    for document in _documents(interaction):
        _collect(document, found)
    return found


def _documents(interaction: Interaction) -> Iterator[Any]:
    if interaction.is_stream:
        for event in interaction.events():
            payload = event.json()
            if payload is not None:
                yield payload
    else:
        payload = parse_json(interaction.response_body)
        if payload is not None:
            yield payload


def _collect(value: Any, found: dict[str, list[Any]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if (
                key in VOLATILE_FIELDS
                and isinstance(item, (str, int))
                and not isinstance(item, bool)
            ):
                if item not in found[key]:
                    found[key].append(item)
            else:
                _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)


@functools.cache
def _field_pattern(field: str) -> re.Pattern[bytes]:
    """``"field": <JSON string or integer>``, followed by the end of its member."""
    return re.compile(
        rb'("' + re.escape(field.encode()) + rb'"\s*:\s*)("(?:[^"\\]|\\.)*"|-?\d+)(?=\s*[,}])'
    )


def _replace_field_values(body: bytes, field: str, replacements: dict[bytes, bytes]) -> bytes:
    """Give ``field`` its old value wherever it holds a new one, keeping the JSON's layout.

    ``replacements`` maps the JSON text of a new value to that of its old one; one compiled
    pattern per field (ids differ on every call, so a pattern per value would be compiled
    afresh every time).
    """

    def replace(match: re.Match[bytes]) -> bytes:
        value = match.group(2)
        return match.group(1) + replacements[value] if value in replacements else match.group(0)

    return _field_pattern(field).sub(replace, body)
