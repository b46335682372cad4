"""Budget keywords fail a case with the offending call; samples run the body N times."""

from __future__ import annotations

import pytest

from pytest_llm.providers import pricing


def test_latency_budget_fails_on_replay_with_the_recorded_figure(inner):
    inner.server.script(replies=[{"text": "slow answer", "latency_s": 0.3}])
    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case(latency_budget=0.2)
        def test_slow(llm_client, llm_model):
            llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "q"}])
        """
    )
    inner.record().assert_outcomes(failed=1)
    result = inner.replay()  # recorded slow: fails offline too
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*LLM budget exceeded:*",
            "*latency_budget: call #1 (chat.completions, gpt-4o-mini) took 0.3* s > 0.2 s*",
        ]
    )


def test_ttft_and_token_budgets(inner):
    inner.server.script(replies=[{"text": "one two three four five six", "ttft_s": 0.3}])
    inner.write(
        """
        from pytest_llm import llm_case

        def ask(client, model):
            for _ in client.chat.completions.create(
                    model=model, stream=True, stream_options={"include_usage": True},
                    messages=[{"role": "user", "content": "count please"}]):
                pass

        @llm_case(ttft_budget=0.1)
        def test_ttft(llm_client, llm_model):
            ask(llm_client, llm_model)

        @llm_case(token_budget=5)
        def test_tokens(llm_client, llm_model):
            ask(llm_client, llm_model)
            ask(llm_client, llm_model)

        @llm_case(token_budget=100, ttft_budget=5)
        def test_within(llm_client, llm_model):
            ask(llm_client, llm_model)
        """
    )
    inner.record()
    result = inner.replay()
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*ttft_budget: call #1 (chat.completions, gpt-4o-mini) first token after 0.3* s > 0.1 s*",
            "*token_budget: 16 tokens over 2 call(s) > 5 (#1: 8, #2: 8)*",
        ]
    )


def test_cost_budget_uses_the_price_table_and_ini_overrides(inner):
    inner.server.script(model="house-model-v1", replies=[{"text": "word " * 50}])
    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case(cost_budget=0.001)
        def test_cost(llm_client, llm_model):
            llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "q"}])
        """
    )
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*cost_budget: no price for model 'house-model-v1'; add a line*llm_prices*"]
    )
    assert "Traceback" not in result.stdout.str()
    inner.pytester.makeini("[pytest]\nllm_prices =\n    house-model-v1 10 100\n")
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cost_budget: $0.005010 over 1 call(s) > $0.001*"])


def test_bad_price_line_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\nllm_prices =\n    gpt-x cheap\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*llm_prices line 'gpt-x cheap': expected 'model input_usd_per_million*"]
    )


def test_prices_match_dated_model_names():
    assert pricing.price_of("gpt-4o-mini-2024-07-18", pricing.BUILTIN_PRICES) == (0.15, 0.60)
    assert pricing.price_of("gpt-4o-2024-08-06", pricing.BUILTIN_PRICES) == (2.50, 10.00)
    with pytest.raises(pricing.UnknownModelPrice):
        pricing.price_of("llama-3", pricing.BUILTIN_PRICES)


SAMPLED = """
    from pytest_llm import llm_case

    @llm_case(samples=5, min_pass_rate={rate})
    def test_sampled(llm_client, llm_model, llm_calls):
        text = llm_client.chat.completions.create(
            model=llm_model, messages=[{{"role": "user", "content": "flip"}}]).choices[0].message.content
        assert len(llm_calls) == 1
        assert text == "good", f"got {{text!r}}"
"""


@pytest.mark.parametrize(("rate", "outcome"), [(0.6, "passed"), (0.8, "failed")])
def test_samples_are_recorded_in_order_and_judged_by_pass_rate(inner, rate, outcome):
    inner.server.script(replies=[{"text": ["good", "bad", "good", "good", "bad"]}])
    inner.write(SAMPLED.format(rate=rate))
    inner.record().assert_outcomes(**{outcome: 1})
    assert len(inner.server.requests) == 5
    result = inner.replay()
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":
        result.stdout.fnmatch_lines(
            [
                "*3/5 samples passed, below min_pass_rate 0.8:*",
                "*run 2: got 'bad'*",
                "*run 5: got 'bad'*",
            ]
        )


UNKNOWN_FIGURES_SUITE = """
    from pytest_llm import llm_case

    @llm_case(token_budget=100_000, cost_budget=100.0)
    def test_stream_without_usage(llm_client, llm_model):
        stream = llm_client.chat.completions.create(
            model=llm_model, stream=True, messages=[{"role": "user", "content": "hi"}])
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    @llm_case(ttft_budget=100.0)
    def test_ttft_of_a_plain_call(llm_client, llm_model):
        llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": "hi"}])
"""


def test_a_budget_never_passes_because_a_figure_was_unknown(inner):
    """A stream without usage reports no tokens; a plain call has no time to first token:
    generous budgets over them fail, naming the call and saying the figure is unknown."""
    inner.write(UNKNOWN_FIGURES_SUITE)
    inner.record().assert_outcomes(failed=2)
    result = inner.replay("-rf")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*token_budget: call #1 (chat.completions, gpt-4o-mini) reported no token counts, "
            "so the total is unknown*",
            "*cost_budget: call #1 (chat.completions, gpt-4o-mini) reported no token counts*",
            "*ttft_budget: no call of this case was streamed*",
        ]
    )


def test_unknown_figures_can_be_left_out_of_budgets_by_the_documented_opt_out(inner):
    inner.write(UNKNOWN_FIGURES_SUITE)
    inner.pytester.makeini("[pytest]\nllm_unknown_figures = ignore\n")
    inner.record().assert_outcomes(passed=2)
    inner.replay().assert_outcomes(passed=2)
