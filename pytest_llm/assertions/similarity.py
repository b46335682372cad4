"""How alike two texts are, as a score in [0, 1], by one of three methods.

- ``"embedding"``: cosine similarity of the texts' embeddings from the embeddings endpoint
  (``llm_embedding_model``), clipped at 0. The call goes through the case's cassette like any
  other, so it is recorded once and replayed offline; within a case each text is embedded once.
  1.0 means the same direction (same meaning to the model); unrelated texts typically score
  well below 0.5 with OpenAI's embedding models.
- ``"fuzzy"``: rapidfuzz's ``token_sort_ratio`` / 100 on lower-cased, punctuation-free text. It
  compares the words regardless of order, and counts extra and missing words against the score
  (unlike ``token_set_ratio``, which scores 1.0 whenever one text's words are a subset of the
  other's). Spelling, not meaning: no network, no model.
- ``"local"``: cosine of a local sentence-transformers model's embeddings (the optional
  ``local`` extra); offline, never downloads a model at run time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_llm.errors import CassetteError
from pytest_llm.replay import active_case

METHODS = ("embedding", "fuzzy", "local")


def similarity(a: str, b: str, *, method: str = "embedding", model: str | None = None) -> float:
    """The similarity of ``a`` and ``b`` in [0, 1] (1.0: the same)."""
    return scores(a, [b], method=method, model=model)[0]


def scores(
    actual: str, candidates: Sequence[str], *, method: str, model: str | None = None
) -> list[float]:
    """The similarity of ``actual`` to each candidate, in order."""
    check_method(method)
    if method == "fuzzy":
        return [fuzzy(actual, candidate) for candidate in candidates]
    if method == "embedding":
        vectors = embed_with_api([actual, *candidates], model=model)
    else:
        from pytest_llm.assertions.local_embeddings import embed_locally

        vectors = embed_locally([actual, *candidates], model=model)
    return [cosine(vectors[0], vector) for vector in vectors[1:]]


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(
            f"unknown similarity method {method!r}; choose one of {', '.join(METHODS)}"
        )


def fuzzy(a: str, b: str) -> float:
    from rapidfuzz import fuzz, utils

    return float(fuzz.token_sort_ratio(a, b, processor=utils.default_process)) / 100.0


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norm == 0.0:
        return 0.0
    return min(1.0, max(0.0, dot / norm))


def one_vector(embedding: object) -> list[float] | None:
    """The embedding as one vector, or None when it is not one (a hostile or foreign cassette).
    Some OpenAI-compatible servers (llama.cpp serving a model without a pooling layer) return
    one vector per token: those are mean-pooled."""
    if not isinstance(embedding, (list, tuple)) or not embedding:
        return None
    if all(isinstance(row, (list, tuple)) for row in embedding):
        rows = [_numbers(row) for row in embedding]
        if any(row is None for row in rows) or len({len(row or ()) for row in rows}) != 1:
            return None
        return [sum(column) / len(rows) for column in zip(*rows, strict=True)]
    return _numbers(embedding)


def _numbers(values: Sequence[object]) -> list[float] | None:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    return [float(v) for v in values]  # type: ignore[arg-type]


def embed_with_api(texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
    """Embeddings of ``texts`` from the case's embeddings endpoint, each distinct text once per
    case (cached on the case), the missing ones in one request."""
    running = active_case.require('similarity with method="embedding"')
    chosen = model or running.engine.settings.embedding_model
    cache = running.case.embeddings
    missing = list(dict.fromkeys(text for text in texts if (chosen, text) not in cache))
    if missing:
        reply = running.engine.sync_client().embeddings.create(
            model=chosen, input=missing, encoding_format="float"
        )
        for text, item in zip(missing, sorted(reply.data, key=lambda d: d.index), strict=True):
            vector = one_vector(item.embedding)
            if vector is None:
                raise CassetteError(
                    f"the embeddings endpoint answered no vector of numbers for {text!r}"
                )
            cache[(chosen, text)] = vector
    return [cache[(chosen, text)] for text in texts]


def pairwise(
    texts: Sequence[str], *, method: str, model: str | None = None
) -> list[tuple[int, int, float]]:
    """(i, j, similarity) for every pair i < j of ``texts``; each text embedded once."""
    check_method(method)
    if method == "fuzzy":
        return [
            (i, j, fuzzy(texts[i], texts[j]))
            for i in range(len(texts))
            for j in range(i + 1, len(texts))
        ]
    if method == "embedding":
        vectors = embed_with_api(texts, model=model)
    else:
        from pytest_llm.assertions.local_embeddings import embed_locally

        vectors = embed_locally(texts, model=model)
    return [
        (i, j, cosine(vectors[i], vectors[j]))
        for i in range(len(texts))
        for j in range(i + 1, len(texts))
    ]
