"""The ``assert_*`` helpers and what they measure with: similarity, schemas, PII, judges (internal).

Import the helpers from :mod:`pytest_llm`; the modules here are not a public API.
"""
