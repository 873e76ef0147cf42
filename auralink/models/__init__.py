"""The embedded model server: local STT, LLM, TTS and embeddings behind the OpenAI HTTP API.

One process per machine loads the offline models once (all shipped inside PyPI packages, each
file checked against a pinned sha256) and serves them over HTTP, so agents use the standard
OpenAI client classes with a ``base_url``, exactly as for OpenAI, Ollama or vLLM:

    GET  /health                   200 when every enabled model is ready, 503 while loading
    GET  /v1/models                the models ready to answer
    POST /v1/chat/completions      smollm2-135m-instruct (llama-cpp-python), streamed over SSE
    POST /v1/audio/transcriptions  whisper-tiny.en (faster-whisper), alias whisper-1; whisper-base
                                   (multilingual: the language given or detected)
    POST /v1/audio/translations    whisper-base: speech in any language to English text
    POST /v1/audio/speech          piper, voice en_US-joe-medium (Piper in a child process)
    GET  /v1/audio/voices          the local voices
    POST /v1/embeddings            all-minilm-l6-v2 (onnxruntime), 384 dimensions

This package imports only ``auralink.core`` and third-party libraries; everything else reaches
it over HTTP. Piper (GPL-3.0) only ever runs as a separate process.
"""

from .app import create_app
from .hub import KINDS, ModelHub
from .server import serve

__all__ = ["KINDS", "ModelHub", "create_app", "serve"]
