"""The table every benchmark ends with: each figure, what it measured, its target, and whether
this run met it (``None``: reported, no target)."""

from __future__ import annotations

from collections.abc import Sequence

Row = tuple[str, str, str, bool | None]


def render(table: Sequence[Row], *, first: str = "figure", measured: str = "measured") -> str:
    width = max(len(first), *(len(row[0]) for row in table))
    value_width = max(len(measured), *(len(row[1]) for row in table))
    target_width = max(len("target"), *(len(row[2]) for row in table))
    header = f"{first:<{width}}  {measured:>{value_width}}  {'target':>{target_width}}  met"
    lines = [header, "-" * len(header)]
    for name, value, target, met in table:
        verdict = "" if met is None else ("yes" if met else "NO")
        lines.append(
            f"{name:<{width}}  {value:>{value_width}}  {target:>{target_width}}  {verdict}"
        )
    return "\n".join(lines)
