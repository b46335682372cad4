"""Content encodings of answers and requests: zstd and br answers, compressed request bodies."""

from __future__ import annotations

import gzip
import json
import sys

import pytest

from pytest_llm.cassette import file_format
from pytest_llm.errors import ContentTooLarge, UndecodableContent

ANSWER = b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}'
LIMIT = 2**20


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(data)


def _br(data: bytes) -> bytes:
    brotli = pytest.importorskip("brotli")
    return brotli.compress(data)


@pytest.mark.parametrize("encoding", ["zstd", "br"])
def test_a_zstd_or_br_answer_is_decoded(encoding):
    compress = _zstd if encoding == "zstd" else _br
    headers = {"content-encoding": [encoding], "content-type": ["application/json"]}
    assert file_format.decode_content(compress(ANSWER), headers) == ANSWER
    assert headers == {"content-type": ["application/json"]}
    # stored decoded already, as some recorders did
    assert file_format.decode_content(ANSWER, {"content-encoding": [encoding]}) == ANSWER
    # layered with gzip
    layered = gzip.compress(compress(ANSWER))
    assert (
        file_format.decode_content(layered, {"content-encoding": [f"{encoding}, gzip"]}) == ANSWER
    )


@pytest.mark.parametrize("encoding", ["zstd", "br"])
def test_a_zstd_or_br_bomb_is_refused_like_a_gzip_one(encoding):
    compress = _zstd if encoding == "zstd" else _br
    bomb = compress(bytes(8 * LIMIT))
    assert len(bomb) < 10_000
    with pytest.raises(ContentTooLarge, match=f"its {encoding} body decompresses to more than"):
        file_format.decode_content(bomb, {"content-encoding": [encoding]}, max_bytes=LIMIT)


@pytest.mark.parametrize(("encoding", "module"), [("zstd", "zstandard"), ("br", "brotli")])
def test_without_its_decoder_the_encoding_is_a_clear_error(monkeypatch, encoding, module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails
    with pytest.raises(
        UndecodableContent, match=f"content-encoding: {encoding}.*pip install {module}"
    ):
        file_format.decode_content(b"\x28\xb5\x2f\xfd", {"content-encoding": [encoding]})


def test_a_foreign_cassette_with_a_zstd_answer_converts_to_readable_json(pytester):
    import yaml

    from pytest_llm.cli import main

    document = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "body": '{"model":"gpt-4o-mini","messages":[]}',
                    "headers": {"content-type": ["application/json"]},
                    "method": "POST",
                    "uri": "https://api.openai.com/v1/chat/completions",
                },
                "response": {
                    "body": {"string": _zstd(ANSWER)},
                    "headers": {
                        "content-encoding": ["zstd"],
                        "content-type": ["application/json"],
                    },
                    "status": {"code": 200, "message": "OK"},
                },
            }
        ],
    }
    source = pytester.path / "legacy.yaml"
    source.write_text(yaml.safe_dump(document))
    assert main.main(["convert", str(source), "--out", str(pytester.path / "out")]) == 0
    (converted,) = (pytester.path / "out").rglob("*.yaml")
    assert '"content": "hi"' in converted.read_text() or "content: hi" in converted.read_text()


# --------------------------------------------------------------------------- compressed requests

PLANTED = "sk-proj-GzipPlantedSecret0123456789abcdef"

GZIP_REQUEST_CASE = f"""
    import gzip, json
    import httpx
    from pytest_llm import llm_case

    @llm_case
    def test_gzipped(llm_client, llm_model):
        body = {{"model": llm_model, "messages": [{{"role": "user", "content": "hi"}}],
                "note": "{PLANTED}"}}
        answer = httpx.post(
            str(llm_client.base_url).rstrip("/") + "/chat/completions",
            content=gzip.compress(json.dumps(body).encode()),
            headers={{"content-type": "application/json", "content-encoding": "gzip",
                      "authorization": "Bearer test"}},
        )
        assert answer.json()["choices"][0]["message"]["content"] == "hello"
"""


def test_a_gzip_request_body_is_stored_readable_scrubbed_and_replays(inner):
    inner.server.script(replies=[{"text": "hello"}])
    inner.write(GZIP_REQUEST_CASE)
    inner.record().assert_outcomes(passed=1)
    text = inner.cassette("test_gzipped").read_text()
    assert PLANTED not in text
    assert "base64" not in text and "content: hi" in text.replace('"', "")
    inner.replay().assert_outcomes(passed=1)


def test_a_foreign_gzip_request_body_is_decoded_and_scrubbed_on_convert(pytester):
    import yaml

    from pytest_llm.cli import main

    request = json.dumps({"model": "gpt-4o-mini", "messages": [], "note": PLANTED}).encode()
    document = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "body": gzip.compress(request),
                    "headers": {
                        "content-type": ["application/json"],
                        "content-encoding": ["gzip"],
                    },
                    "method": "POST",
                    "uri": "https://api.openai.com/v1/chat/completions",
                },
                "response": {
                    "body": {"string": ANSWER.decode()},
                    "headers": {"content-type": ["application/json"]},
                    "status": {"code": 200, "message": "OK"},
                },
            }
        ],
    }
    source = pytester.path / "legacy.yaml"
    source.write_text(yaml.safe_dump(document))
    assert main.main(["convert", str(source), "--out", str(pytester.path / "out")]) == 0
    (converted,) = (pytester.path / "out").rglob("*.yaml")
    text = converted.read_text()
    assert PLANTED not in text and "gpt-4o-mini" in text and "base64" not in text


def test_check_finds_a_secret_in_an_old_base64_gzip_request_body(tmp_path, capsys):
    from pytest_llm.cassette.file_format import render_cassette
    from pytest_llm.cassette.interaction import Interaction
    from pytest_llm.cli import main

    request = json.dumps({"model": "gpt-4o-mini", "messages": [], "note": PLANTED}).encode()
    interaction = Interaction(
        method="POST",
        path="/v1/chat/completions",
        request_body=gzip.compress(request),
        status=200,
        response_headers={"content-type": ["application/json"]},
        response_body=ANSWER,
    )
    cassette = tmp_path / "old.yaml"
    cassette.write_text(render_cassette([interaction]))
    assert "base64" in cassette.read_text()
    assert main.main(["check", str(cassette)]) == 1
    out = capsys.readouterr().out
    assert "request body (gzip)" in out and PLANTED not in out
