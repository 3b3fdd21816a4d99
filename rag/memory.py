"""Give freed heap memory back to the operating system after each answer.

Measured by bench/soak.py and an in-process loop of 200 answers: the app's resident memory grew
from ~710 MB to 1.0–1.5 GB and then levelled off — not a leak, but glibc keeping the freed
buffers of tokenisation, embedding and retrieval in per-thread arenas (worse with Gradio's
thread pool). `malloc_trim(0)` after each answer kept the same loop at 712 → 805 MB, flat after
the first 40 answers, for about a millisecond per call. A no-op where glibc is not the allocator.

A server also caps glibc's malloc arenas (`limit_arenas`): by default each of Gradio's worker
threads may get its own arena (up to 8 per core), and their fragments add up. bench/soak.py with
the fake LLM, 200 questions and an ingest midway (2026-12-02): UI RSS 759 → 970 MB (+28 %, still
rising) with the default arenas, 757 → 862 MB with two, flat (850 → 868 MB) after the first ten
questions.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

_lock = threading.Lock()
_libc = None
_loaded = False


def _malloc_trim():
    global _libc, _loaded
    with _lock:
        if not _loaded:
            _loaded = True
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _libc = libc if hasattr(libc, "malloc_trim") else None
            except OSError:
                _libc = None
    return _libc.malloc_trim if _libc is not None else None


_M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h


def limit_arenas(n: int = 2) -> bool:
    """Cap glibc's malloc arenas at ``n`` for the rest of the process (call before the worker
    threads start; MALLOC_ARENA_MAX in the environment wins). True if it took effect."""
    import os

    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    trim = _malloc_trim()  # loads libc
    if trim is None or _libc is None or not hasattr(_libc, "mallopt"):
        return False
    return bool(_libc.mallopt(_M_ARENA_MAX, n))


def release_free_memory() -> bool:
    """Return free heap pages to the OS; True if the allocator supports it (glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
