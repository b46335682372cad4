"""LLM APIs behind one protocol: which requests are a provider's, what its answers say (internal)."""
