"""Unit tests of the personal-data detectors behind ``assert_no_pii``."""

from __future__ import annotations

import itertools

import pytest

from pytest_llm.assertions.pii import KINDS, Finding, find_pii


def _found(text: str, kind: str) -> list[str]:
    return [finding.value for finding in find_pii(text, kinds=[kind])]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("email", "john.doe@example.com"),
        ("email", "first.last+tag@mail.example.co.uk"),
        ("email", "a_b-c%d@sub-domain.example.org"),
        ("phone", "+1 415 555 0132"),
        ("phone", "+44 20 7946 0958"),
        ("phone", "+49 (0)30 1234567"),
        ("phone", "+33 6 12 34 56 78"),
        ("phone", "+1-415-555-0132"),
        ("phone", "+14155550132"),
        ("phone", "(415) 555-0132"),
        ("phone", "415-555-0132"),
        ("phone", "415.555.0132"),
        ("card", "4111 1111 1111 1111"),
        ("card", "4111111111111111"),
        ("card", "5555 5555 5555 4444"),
        ("card", "5555-5555-5555-4444"),
        ("card", "3782 822463 10005"),
        ("card", "378282246310005"),
        ("card", "6011 1111 1111 1117"),
        ("iban", "GB82 WEST 1234 5698 7654 32"),
        ("iban", "GB82WEST12345698765432"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("iban", "DE89370400440532013000"),
        ("national_id", "123-45-6789"),
        ("national_id", "AB 12 34 56 C"),
        ("national_id", "AB123456C"),
        ("api_key", "sk-proj-abcdefghijklmnopqrstuvwx"),
        ("api_key", "AKIAIOSFODNN7EXAMPLE"),
        ("api_key", "ghp_" + "a1B2" * 9),
        ("api_key", "xoxb-1234567890-abcdefghij"),
        ("api_key", "Bearer abcdefghijklmnopqrstu"),
    ],
)
def test_true_positives_are_found_in_prose(kind: str, value: str) -> None:
    text = f"Hello, you can reach the customer with {value} today. Thanks!"
    [finding] = find_pii(text)
    assert (finding.kind, finding.value) == (kind, value)
    assert text[finding.start : finding.end] == value


@pytest.mark.parametrize(
    "text",
    [
        "Your order 1234567890 has shipped.",
        "order 12345678, invoice 987654321",
        "Delivered on 2024-01-15, 15.01.2024 or 01/15/2024.",
        "The meeting starts at 12:30:45 sharp.",
        "Total: $1,234.56 (or 1 234,50 €).",
        "Requires Python 3.11.7 or newer.",
        "Connect to 192.168.100.200 or 10.0.0.1.",
        "The timestamp was 1717171717171 ms.",
        "Luhn-invalid: 4111 1111 1111 1112 and 5555555555554445.",
        "Wrong IBAN checksum: GB83 WEST 1234 5698 7654 32.",
        "Invalid SSNs: 000-12-3456, 666-12-3456, 912-12-3456, 123-00-4567, 123-45-0000.",
        "Excluded NI prefixes: QQ123456C, GB123456A, ZZ 12 34 56 D.",
        "Score +12.5 points, temperature -3.5, offset +01:00.",
        "Issuer-less but Luhn-valid: 1234 5678 9012 3452.",
    ],
)
def test_false_positives_are_not_reported(text: str) -> None:
    assert find_pii(text) == []


def test_wrong_length_for_a_known_country_is_not_an_iban() -> None:
    # Valid mod-97 but GB IBANs have 22 characters: the country table rejects it.
    assert _found("GB82 WEST 1234 5698 7654 3", "iban") == []


def test_card_followed_by_expiry_date_is_still_found() -> None:
    assert _found("Card 4111 1111 1111 1111 12/25, CVV 123", "card") == ["4111 1111 1111 1111"]


def test_iban_followed_by_another_word_in_capitals_is_still_found() -> None:
    found = _found("IBAN DE89 3704 0044 0532 0130 00 BANK", "iban")
    assert found == ["DE89 3704 0044 0532 0130 00"]


def test_two_cards_in_one_digit_run_are_both_found() -> None:
    text = "4111 1111 1111 1111 5555 5555 5555 4444"
    assert _found(text, "card") == ["4111 1111 1111 1111", "5555 5555 5555 4444"]


def test_findings_are_sorted_and_do_not_overlap() -> None:
    text = "Mail a@b.io, key Bearer sk-abcdefghijklmnopqrstuvwxyz, call 415-555-0132."
    findings = find_pii(text)
    assert [finding.kind for finding in findings] == ["email", "api_key", "phone"]
    assert findings[1].value == "Bearer sk-abcdefghijklmnopqrstuvwxyz"
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("email", "john.doe@example.com"),
        ("phone", "+44 20 7946 0958"),
        ("iban", "GB82WEST12345698765432"),
        ("national_id", "AB123456C"),
        ("api_key", "AKIAIOSFODNN7EXAMPLE"),
        ("email", "a@b.co"),
        ("national_id", "abc"),
    ],
)
def test_masking_reveals_at_most_four_characters(kind: str, value: str) -> None:
    masked = Finding(kind, 0, len(value), value).masked()
    assert masked != value
    assert len(masked) == len(value)
    revealed = [char for char, original in zip(masked, value, strict=True) if char == original]
    assert len(revealed) <= min(4, len(value) // 2)
    assert "*" in masked


def test_masking_keeps_two_characters_at_each_end() -> None:
    assert Finding("email", 0, 16, "john@example.com").masked() == "jo" + "*" * 12 + "om"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("4111 1111 1111 1111", "**** **** **** 1111"),
        ("5555-5555-5555-4444", "****-****-****-4444"),
        ("378282246310005", "***********0005"),
    ],
)
def test_card_masking_shows_only_the_last_four_digits(value: str, masked: str) -> None:
    [finding] = find_pii(value)
    assert finding.masked() == masked


def test_kinds_filter_limits_the_detectors() -> None:
    text = "john@example.com, 4111 1111 1111 1111, 123-45-6789"
    assert [finding.kind for finding in find_pii(text)] == ["email", "card", "national_id"]
    assert [finding.kind for finding in find_pii(text, kinds=["card"])] == ["card"]
    assert [f.kind for f in find_pii(text, kinds=("email", "national_id"))] == [
        "email",
        "national_id",
    ]
    assert find_pii(text, kinds=[]) == []


def test_a_single_kind_string_is_accepted() -> None:
    assert [finding.kind for finding in find_pii("x john@example.com", kinds="email")] == ["email"]


def test_unknown_kind_lists_the_valid_kinds() -> None:
    with pytest.raises(ValueError, match="'postcode'") as info:
        find_pii("text", kinds=["email", "postcode"])
    assert all(kind in str(info.value) for kind in KINDS)


def test_large_input_without_pii_is_clean() -> None:
    text = (
        "Order 1234567890 shipped on 2024-01-15 for $1,234.56 (v3.11.7). " * 2000
    ) + "a" * 50_000
    assert find_pii(text) == []
