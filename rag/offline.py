"""Make every library stay offline before it is imported.

tiktoken would download its BPE files and Hugging Face libraries would call the hub; both fail on
a machine without network. llama-index-core ships tiktoken's files (and NLTK's), so point the
libraries at them. Imported first by `rag/__init__.py`.
"""

import os
from importlib.util import find_spec
from pathlib import Path


def configure() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        spec = find_spec("llama_index.core")
    except ModuleNotFoundError:  # llama-index not installed (a bare checkout): nothing to point at
        spec = None
    if spec and spec.origin:
        static = Path(spec.origin).parent / "_static"
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(static / "tiktoken_cache"))
        os.environ.setdefault("NLTK_DATA", str(static / "nltk_cache"))


configure()
