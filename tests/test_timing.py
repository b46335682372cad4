"""Latency and time to first token are measured at the transport while recording, stored per
interaction, and replayed as recorded."""

from __future__ import annotations

import json

import yaml

REPORTING_TEST = """
    import json, pathlib
    from pytest_llm import llm_case

    @llm_case
    def test_timed(llm_client, llm_model, llm_calls):
        stream = llm_client.chat.completions.create(
            model=llm_model, stream=True, messages=[{"role": "user", "content": "slow"}])
        for _ in stream:
            pass
        llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "plain"}])
        pathlib.Path("calls.json").write_text(json.dumps(
            [[call.latency_s, call.ttft_s] for call in llm_calls]))
"""


def test_stream_ttft_and_latency_are_measured_at_the_transport(inner):
    inner.server.script(
        replies=[
            {"match": "slow", "text": "one two three four five", "latency_s": 0.2, "ttft_s": 0.3},
            {"match": "plain", "text": "fast", "latency_s": 0.25},
        ],
        chunk_delay_s=0.2,
    )
    inner.write(REPORTING_TEST)
    inner.record().assert_outcomes(passed=1)
    (stream_latency, stream_ttft), (plain_latency, plain_ttft) = json.loads(
        (inner.pytester.path / "calls.json").read_text()
    )
    # Headers after 0.2 s, the first of five pieces after another 0.3 s, the other four 0.2 s
    # apart. Lower bounds hold under any load: the server cannot send sooner than it sleeps.
    assert stream_ttft >= 0.2 + 0.3  # the first content chunk, not the headers (0.2 s)
    assert stream_latency >= 0.2 + 0.3 + 4 * 0.2
    # Not the time to the last chunk either. The server sends that 0.8 s after the first; a
    # loaded machine reading the first chunk late narrows the measured gap, so half of it is
    # tolerance: the test fails only if the first read is delayed by more than 0.4 s.
    assert stream_latency >= stream_ttft + 0.4
    assert plain_ttft is None and plain_latency >= 0.25
    stored = yaml.safe_load(inner.cassette("test_timed").read_text())["interactions"]
    assert stored[0]["call"]["ttft_s"] == round(stream_ttft, 3)
    assert stored[0]["call"]["latency_s"] == round(stream_latency, 3)

    inner.replay().assert_outcomes(passed=1)
    replayed = json.loads((inner.pytester.path / "calls.json").read_text())
    assert replayed == [
        [round(stream_latency, 3), round(stream_ttft, 3)],
        [round(plain_latency, 3), None],
    ]


def test_concurrent_async_requests_are_timed_separately(inner):
    inner.server.script(
        replies=[
            {"match": "short", "text": "a", "latency_s": 0.1},
            {"match": "long", "text": "b", "latency_s": 1.2},
        ]
    )
    inner.write(
        """
        import asyncio, json, pathlib
        from pytest_llm import llm_case

        @llm_case
        def test_gather(llm_async_client, llm_model, llm_calls):
            async def ask(text):
                reply = await llm_async_client.chat.completions.create(
                    model=llm_model, messages=[{"role": "user", "content": text}])
                return reply.choices[0].message.content

            async def main():
                return await asyncio.gather(ask("long"), ask("short"))

            assert asyncio.run(main()) == ["b", "a"]
            pathlib.Path("calls.json").write_text(json.dumps({c.text: c.latency_s for c in llm_calls}))
        """
    )
    inner.record().assert_outcomes(passed=1)
    latencies = json.loads((inner.pytester.path / "calls.json").read_text())
    _assert_timed_separately(latencies)


def test_threads_are_timed_separately(inner):
    inner.server.script(
        replies=[
            {"match": "short", "text": "a", "latency_s": 0.1},
            {"match": "long", "text": "b", "latency_s": 1.2},
        ]
    )
    inner.write(
        """
        import json, pathlib
        from concurrent.futures import ThreadPoolExecutor
        from pytest_llm import llm_case

        @llm_case
        def test_threads(llm_client, llm_model, llm_calls):
            def ask(text):
                return llm_client.chat.completions.create(
                    model=llm_model, messages=[{"role": "user", "content": text}]).choices[0].message.content

            with ThreadPoolExecutor(2) as pool:
                assert list(pool.map(ask, ["long", "short"])) == ["b", "a"]
            pathlib.Path("calls.json").write_text(json.dumps({c.text: c.latency_s for c in llm_calls}))
        """
    )
    inner.record().assert_outcomes(passed=1)
    latencies = json.loads((inner.pytester.path / "calls.json").read_text())
    _assert_timed_separately(latencies)


def _assert_timed_separately(latencies: dict[str, float]) -> None:
    """Short (0.1 s) and long (1.2 s) calls ran at once; each must carry its own latency.

    Lower bounds hold under any load. Time given to the long call, or to both (the total),
    would put the short one at 1.2 s or more; the 0.5 s margin below that is tolerance for a
    loaded machine slowing the short call more than the long one.
    """
    assert latencies["b"] >= 1.2
    assert 0.1 <= latencies["a"] <= latencies["b"] - 0.5, latencies
