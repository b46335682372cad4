"""One LLM case: its marker and options, collection, samples, budgets, data sets, unused cassettes (internal)."""
