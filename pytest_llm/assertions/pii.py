"""Detect personal data in text: the detectors behind ``assert_no_pii``.

Every detector favours precision: card numbers must pass the Luhn check and carry a real
issuer prefix, IBANs must pass the ISO 13616 mod-97 check, phone numbers need a ``+`` or
North-American separators, so order numbers, dates, prices and versions are not reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pytest_llm.cassette.scrubbing import SECRET_SHAPES

KINDS: tuple[str, ...] = ("email", "phone", "card", "iban", "national_id", "api_key")

Span = tuple[int, int]

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\b"
)

# "+" country code, then digit groups separated by one space, dash or dot, or by "(0)"-style
# parenthesised groups; the digit count is checked in code.
_PHONE_INTERNATIONAL = re.compile(
    r"(?<![\w+])\+\d{1,3}"
    r"(?:[ .-]?\(\d{1,4}\)[ .-]?|[ .-])?\d+"
    r"(?:(?:[ .-]|[ .-]?\(\d{1,4}\)[ .-]?)\d+)*"
)
_PHONE_NORTH_AMERICAN = re.compile(
    r"(?<![\w.+/-])(?:1[ .-])?"
    r"(?:\([2-9]\d{2}\) ?[2-9]\d{2}[.-]\d{4}|[2-9]\d{2}([.-])[2-9]\d{2}\1\d{4})"
    r"(?![\w]|[.-]\d)"
)
_PHONE_DIGITS = range(8, 18)  # a 1-3 digit country code and 7-14 more digits

_DIGIT_RUN = re.compile(r"(?<!\d)\d+(?:[ -]\d+)*")
_DIGIT_GROUP = re.compile(r"\d+")
_CARD_LENGTHS = range(13, 20)
_CARD_GROUP_LENGTHS = range(3, 7)
# (lowest prefix, highest prefix, allowed lengths) of the major card issuers.
_ISSUERS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("4", "4", (13, 16, 19)),  # Visa
    ("51", "55", (16,)),  # Mastercard
    ("2221", "2720", (16,)),  # Mastercard 2-series
    ("34", "34", (15,)),  # American Express
    ("37", "37", (15,)),
    ("6011", "6011", (16, 17, 18, 19)),  # Discover
    ("65", "65", (16, 17, 18, 19)),
    ("644", "649", (16, 17, 18, 19)),
    ("3528", "3589", (16, 17, 18, 19)),  # JCB
    ("36", "36", (14, 15, 16, 17, 18, 19)),  # Diners Club
    ("38", "38", (14, 15, 16, 17, 18, 19)),
    ("300", "305", (14, 15, 16, 17, 18, 19)),
)

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)\b")
_IBAN_GROUP = re.compile(r"[A-Z0-9]+")
_IBAN_LENGTHS = {
    "DE": 22, "GB": 22, "FR": 27, "ES": 24, "IT": 27, "NL": 18, "BE": 16, "CH": 21,
    "AT": 20, "NO": 15, "SE": 24, "DK": 18, "PL": 28, "PT": 25, "IE": 22,
}  # fmt: skip
_IBAN_TOTAL_LENGTHS = range(15, 35)

_SSN = re.compile(r"(?<![\w-])(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w]|-\d)")
_NATIONAL_INSURANCE = re.compile(
    r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind, where it is in the text and its value."""

    kind: str
    start: int
    end: int
    value: str

    def masked(self) -> str:
        """The value with all but a few characters starred (cards: the last four digits)."""
        if self.kind == "card":
            return _mask_card(self.value)
        return _mask_middle(self.value)


def find_pii(text: str, kinds: Iterable[str] | None = None) -> list[Finding]:
    """Personal data in ``text`` (all :data:`KINDS`, or only ``kinds``), sorted by position.

    Overlapping findings are reduced to the one that starts first (the longest on a tie).
    """
    found = [
        Finding(kind, start, end, text[start:end])
        for kind in _selected_kinds(kinds)
        for start, end in _DETECTORS[kind](text)
    ]
    found.sort(key=lambda item: (item.start, item.start - item.end, KINDS.index(item.kind)))
    result: list[Finding] = []
    for finding in found:
        if not result or finding.start >= result[-1].end:
            result.append(finding)
    return result


def _selected_kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    if kinds is None:
        return KINDS
    selected = (kinds,) if isinstance(kinds, str) else tuple(dict.fromkeys(kinds))
    unknown = [kind for kind in selected if kind not in KINDS]
    if unknown:
        names = ", ".join(repr(kind) for kind in unknown)
        raise ValueError(f"unknown PII kind(s) {names}; valid kinds: {', '.join(KINDS)}")
    return selected


def _emails(text: str) -> Iterator[Span]:
    if "@" not in text:  # a substring test is ~100x cheaper than a regex scan
        return
    for match in _EMAIL.finditer(text):
        yield match.span()


def _phones(text: str) -> Iterator[Span]:
    for match in _PHONE_INTERNATIONAL.finditer(text) if "+" in text else ():
        digits = sum(char.isdigit() for char in match.group())
        if digits in _PHONE_DIGITS and not _is_word_char(text, match.end()):
            yield match.span()
    for match in _PHONE_NORTH_AMERICAN.finditer(text):
        yield match.span()


def _cards(text: str) -> Iterator[Span]:
    for run in _DIGIT_RUN.finditer(text):
        if _embedded_number(text, run.start(), run.end()):
            continue
        groups = [match.span() for match in _DIGIT_GROUP.finditer(text, run.start(), run.end())]
        yield from _cards_in_groups(text, groups)


def _embedded_number(text: str, start: int, end: int) -> bool:
    """Whether a digit run is part of a word, a decimal number or a ``+`` number."""
    before = text[start - 1] if start else ""
    if before == "+" or _is_word_char(text, start - 1):
        return True
    if before in (".", ",") and start >= 2 and text[start - 2].isdigit():
        return True
    if _is_word_char(text, end):
        return True
    return text[end : end + 1] in (".", ",") and text[end + 1 : end + 2].isdigit()


def _cards_in_groups(text: str, groups: list[Span]) -> Iterator[Span]:
    """Leftmost-longest valid card numbers made of consecutive digit groups of one run."""
    first = 0
    while first < len(groups):
        found = _card_starting_at(text, groups, first)
        if found is None:
            first += 1
            continue
        last, span = found
        yield span
        first = last + 1


def _card_starting_at(text: str, groups: list[Span], first: int) -> tuple[int, Span] | None:
    """The longest valid card number starting at group ``first`` and its last group's index."""
    candidates: list[tuple[int, Span]] = []
    digits = 0
    for index in range(first, len(groups)):
        start, end = groups[index]
        size = end - start
        if index > first and size not in _CARD_GROUP_LENGTHS:
            break
        digits += size
        if digits > _CARD_LENGTHS[-1]:
            break
        if digits in _CARD_LENGTHS:
            candidates.append((index, (groups[first][0], end)))
        if size not in _CARD_GROUP_LENGTHS:  # only a lone group may be longer
            break
    for index, (start, end) in reversed(candidates):
        if _is_card_number(text[start:end]):
            return index, (start, end)
    return None


def _is_card_number(value: str) -> bool:
    separators = {char for char in value if not char.isdigit()}
    digits = "".join(char for char in value if char.isdigit())
    return len(separators) <= 1 and _issuer_accepts(digits) and _luhn_valid(digits)


def _issuer_accepts(digits: str) -> bool:
    for low, high, lengths in _ISSUERS:
        if low <= digits[: len(low)] <= high and len(digits) in lengths:
            return True
    return False


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _ibans(text: str) -> Iterator[Span]:
    for match in _IBAN.finditer(text):
        span = _longest_valid_iban(match.group())
        if span is not None:
            yield match.start(), match.start() + span


def _longest_valid_iban(candidate: str) -> int | None:
    """Length of the longest prefix of ``candidate`` made of whole groups that is a valid IBAN."""
    ends = [group.end() for group in _IBAN_GROUP.finditer(candidate)]
    for end in reversed(ends):
        if _iban_valid(candidate[:end].replace(" ", "")):
            return end
    return None


def _iban_valid(compact: str) -> bool:
    expected = _IBAN_LENGTHS.get(compact[:2])
    if len(compact) not in _IBAN_TOTAL_LENGTHS or expected not in (None, len(compact)):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _national_ids(text: str) -> Iterator[Span]:
    for pattern in (_SSN, _NATIONAL_INSURANCE) if "-" in text else (_NATIONAL_INSURANCE,):
        for match in pattern.finditer(text):
            yield match.span()


#: Literal substrings one of which every match of a secret shape contains: a cheap test that
#: skips the regex scan of text that cannot hold such a key.
_SHAPE_HINTS: dict[str, tuple[str, ...]] = {
    "openai_key": ("sk-",),
    "aws_access_key": ("AKIA", "ASIA"),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    "slack_token": ("xox",),
    "bearer_token": ("bearer",),
}


def _api_keys(text: str) -> Iterator[Span]:
    lowered = text.lower()
    for name, pattern in SECRET_SHAPES.items():
        hints = _SHAPE_HINTS.get(name)
        haystack = lowered if name == "bearer_token" else text
        if hints is not None and not any(hint in haystack for hint in hints):
            continue
        for match in pattern.finditer(text):
            yield match.span()


def _is_word_char(text: str, index: int) -> bool:
    return 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_")


def _mask_middle(value: str) -> str:
    keep = min(2, len(value) // 4)
    if not keep:
        return "*" * len(value)
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def _mask_card(value: str) -> str:
    hidden = sum(char.isdigit() for char in value) - 4
    masked = []
    for char in value:
        if char.isdigit() and hidden > 0:
            hidden -= 1
            char = "*"
        masked.append(char)
    return "".join(masked)


_DETECTORS: dict[str, Callable[[str], Iterator[Span]]] = {
    "email": _emails,
    "phone": _phones,
    "card": _cards,
    "iban": _ibans,
    "national_id": _national_ids,
    "api_key": _api_keys,
}
