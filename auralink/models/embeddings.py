"""Local sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime.

Texts are tokenised with the model's ``tokenizer.json`` (HuggingFace ``tokenizers``), truncated
to 256 tokens as sentence-transformers does for this model, run in batches, mean-pooled over
the attention mask and L2-normalised: 384 floats per text, cosine similarity = dot product.
"""

from __future__ import annotations

__all__ = ["Embedder", "Embeddings"]

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from auralink.core.errors import ModelError

from .registry import EmbeddingSpec

_BATCH = 32


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: np.ndarray  # (n, dimensions) float32, unit norm
    tokens: int


class Embedder:
    """A loaded embedding model. Create, then :meth:`load` in a thread."""

    def __init__(self, *, spec: EmbeddingSpec, model_path: Path, tokenizer_path: Path, threads: int) -> None:
        self.spec = spec
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: set[str] = set()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embeddings")

    def load(self) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as e:
            raise ModelError(f"onnxruntime or tokenizers is not installed: {e}") from e
        try:
            tokenizer = Tokenizer.from_file(str(self._tokenizer_path))
            tokenizer.enable_truncation(max_length=self.spec.max_tokens)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a secret
            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(
                str(self._model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime and tokenizers raise their own untyped errors
            raise ModelError(f"cannot load {self._model_path}: {e}") from e
        self._input_names = {i.name for i in session.get_inputs()}
        self._tokenizer = tokenizer
        self._session = session

    async def embed(self, texts: list[str]) -> Embeddings:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._embed, texts)

    def _embed(self, texts: list[str]) -> Embeddings:
        out: list[np.ndarray] = []
        tokens = 0
        for start in range(0, len(texts), _BATCH):
            encodings = self._tokenizer.encode_batch(texts[start : start + _BATCH])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feed)[0]  # (batch, seq, dims)
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out.append((pooled / np.clip(norms, 1e-12, None)).astype(np.float32))
            tokens += int(mask.sum())
        return Embeddings(vectors=np.concatenate(out, axis=0), tokens=tokens)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._session = None
