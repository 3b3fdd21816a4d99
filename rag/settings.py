"""The one Settings object, read from environment variables (all documented in the README).

Each field says what it sets in its ``Field(description=...)``; tests/test_settings_docs.py
keeps those and the README's settings table in step. Defaults work offline with no key: the
embedded local model on 127.0.0.1 and a Chroma store inside the project folder. Values are
validated here, so a bad variable fails with a message naming it instead of surfacing later as
an obscure error.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_home() -> Path:
    # A source checkout keeps its index and model beside the code (the README's two commands
    # work from the clone); an installed package falls back to the user's data directory.
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "rag-papers"


RetrievalMode = Literal["hybrid", "dense", "bm25"]
RETRIEVAL_MODES: tuple[str, ...] = get_args(RetrievalMode)

#: ``RAG_PRESET``: defaults for a group of fields, chosen from what `rag bench levers` measured
#: on the 2-core reference machine (README "Speed"); a variable set explicitly wins over it.
#: Unset (or "balanced") is the shipped defaults.
PRESETS: dict[str, dict[str, object]] = {
    "balanced": {},
    # The fastest measured value of every lever: sentence evidence within 450 tokens (TTFT
    # p50 3.2 s vs 9.7 s for whole abstracts; key facts 0.47 vs 0.59, gold cited 0.77 vs
    # 0.70), follow-ups reusing the previous prompt (TTFT p50 0.46 s vs 12.5 s with an LLM
    # rewrite), no live judge, no asked check (total p50 on dev fact questions 9.2 s with it,
    # 4.7 s without), no recheck of an unnamed answer's paper (total p50 on dev paraphrases
    # 10.4 s with it, 7.4 s without; TTFT the same). The best paper's head start
    # (RAG_EVIDENCE_TOP_SHARE) costs no time at the same budget, so it is not pinned.
    "fast": {"evidence": "sentences", "context_tokens": 450,
             "condense_mode": "context", "verify": "cheap", "check_asked": False,
             "recheck_paper": False},
    # Slower for more evidence and a second check: sentences within 700 tokens (key facts
    # 0.51 vs 0.47 on the 52-question slice, facts in the prompt 0.89 vs 0.81 over all 121
    # answerable questions; TTFT p50 4.7 vs 3.2 s) and the live LLM judge on every answer
    # (total p50 8.4 -> 14.2 s, p95 13.2 -> 41.1 s on the 26-question slice).
    "thorough": {"evidence": "sentences", "context_tokens": 700,
                 "condense_mode": "context", "verify": "judge"},
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAG_", extra="ignore", frozen=True, populate_by_name=True
    )

    preset: Literal["balanced", "fast", "thorough"] = Field(
        default="balanced",
        description='a named group of defaults, "fast" or "thorough" (PRESETS); a variable set '
                    "explicitly wins over it")

    # --- where things live
    home: Path = Field(
        default_factory=_default_home,
        description="project folder holding data/, .index/ and .models/ (default: the checkout)")
    corpus_path: Path | None = Field(
        default=None, description="corpus to ingest (default: <home>/data/corpus)")
    chroma_path: Path | None = Field(
        default=None, description="Chroma folder (default: <home>/.index/chroma)")
    collection: str = Field(default="papers", description="Chroma collection name")
    chroma_host: str | None = Field(
        default=None, description="a Chroma server (HttpClient) to use instead of the folder")
    chroma_port: int = Field(default=8000, ge=1, le=65535, description="that Chroma server's port")

    # --- ingest
    chunk_size: int = Field(
        default=160, ge=32, le=2048, description="chunk length in tiktoken (cl100k) tokens")
    chunk_overlap: int = Field(
        default=32, ge=0, le=512, description="tokens shared by neighbouring chunks")
    embed_model: str = Field(
        default="minilm",
        description='"minilm" (packaged all-MiniLM-L6-v2) or "fake" (hashed vectors, tests)')
    embed_batch_size: int = Field(
        default=32, ge=1, le=1024,
        description="texts embedded per batch (per request with an endpoint)")
    # ONNX skips the torch import (a query vector ~0.1 s after start-up against ~12 s to load
    # sentence-transformers on 2 cores); the two give the same vectors to ~2e-7.
    embed_backend: Literal["auto", "onnx", "torch"] = Field(
        default="auto",
        description='how MiniLM runs: "onnx", "torch" (sentence-transformers) or "auto" (ONNX '
                    "once `rag prepare-model` exported it, else torch with a notice)")
    embed_base_url: str | None = Field(
        default=None,
        description="an OpenAI-compatible /v1/embeddings server (TEI, vLLM, Ollama, Infinity) "
                    "used instead of the packaged model, for ingest and queries alike "
                    "(rag/remote_embed.py)")
    embed_api_model: str | None = Field(
        default=None, description="the model name that embeddings server serves; required with it")
    embed_api_key: str | None = Field(default=None, description="that embeddings server's key")
    embed_api_dim: int | None = Field(
        default=None, ge=1, description="reject endpoint vectors of any other length")
    embed_timeout: float = Field(
        default=30.0, gt=0, description="seconds per embeddings request")
    embed_retries: int = Field(
        default=2, ge=0, le=10,
        description="embeddings retries on connection errors, 429 and 5xx")

    # --- retrieval
    top_k: int = Field(default=5, ge=1, le=50, description="papers handed to the LLM at most")
    retrieval_mode: RetrievalMode = Field(
        default="hybrid", description='"hybrid" (dense and BM25, fused), "dense" or "bm25"')
    candidates: int = Field(
        default=40, ge=5, le=500, description="chunks per retriever before fusion")
    fusion: Literal["rrf", "convex"] = Field(
        default="rrf",
        description="how the dense and BM25 rankings are merged (rag/fusion.py; chosen by "
                    "`rag eval --retrieval`)")
    rrf_k: int = Field(default=10, ge=1, description="reciprocal rank fusion's k")
    fill_scores: bool = Field(
        default=True,
        description="before fusing, score each candidate paper with the retriever that did "
                    "not find it (its cosine, its BM25 score), instead of counting it absent")
    phrase_match: bool = Field(
        default=False,
        description="BM25 also scores the question's set phrases (word pairs the collection "
                    "writes together, e.g. \"gradient boosting\"), so a paper naming the topic "
                    "in passing is found")
    dense_weight: float = Field(
        default=0.5, ge=0.0, le=1.0, description="convex fusion's dense share")
    sentence_weight: float = Field(
        default=0.0, ge=0.0, le=1.0,
        description="share of a paper's dense score taken from its best single sentence "
                    "(the rest: its best chunk); 0 ranks by chunks only (rag/sentences.py)")
    name_first: bool = Field(
        default=True,
        description="a name in the question that singles out a paper ranks it first and "
                    "passes the floor")
    listing_answers: bool = Field(
        default=True,
        description='"which papers …" questions listed from retrieval, each paper with its own '
                    "sentence (rag/listing.py), instead of written by the LLM")
    refuse_unknown_names: bool = Field(
        default=True,
        description="refuse before the LLM when the question names something (an acronym, a "
                    "coined word) that no paper contains, even loosely (rag/names.py)")
    refuse_denied_premises: bool = Field(
        default=True,
        description="decline, before the LLM and quoting the paper, a question whose premise "
                    "the asked-about paper denies (\"needs large batches\" about a paper that "
                    "\"does not require large batches\"; rag/premises.py)")
    judge_restatements: bool = Field(
        default=True,
        description="when the model's whole answer restates the question about the paper it "
                    "cites, ask the judge whether that paper says so before refusing "
                    "(rag/refusals.py)")
    # Off by default: on dev it won false premises (0.70 -> 0.85) at no cost to paraphrases,
    # but on the test split (reported, not tuned on) it declined 6 more of 27 answerable
    # paraphrases and won 1 of 22 false premises (README, rag/asked.py).
    check_asked: bool = Field(
        default=False,
        description="after an answer that rests on one paper, ask the judge whether that "
                    "paper's abstract answers the question; if not, decline and quote the paper "
                    "(a technique no paper proposes, a detail it does not give; rag/asked.py)")
    # On by default from a dev probe (eval/reports/2026-12-07-dev-swap-probe): on 97 answered
    # dev paraphrases it moved 3 answers, all 3 to the gold paper, none away from it.
    recheck_paper: bool = Field(
        default=True,
        description="when an answer rests on one paper the question does not name, ask the "
                    "judge whether that paper answers it; if not and the other of the two "
                    "best-ranked papers does, answer with that one (rag/asked.py)")
    listing_k: int = Field(
        default=10, ge=1, le=50, description="papers retrieved for a listing question")
    min_similarity: float = Field(
        default=0.30, ge=-1.0, le=1.0,
        description="relevance floor (cosine): below it, refuse without calling the LLM")
    relative_floor: float = Field(
        default=0.75, ge=0.0, le=1.0,
        description="keep papers whose similarity is at least the best one's times this")
    passages_per_source: int = Field(
        default=2, ge=1, le=10, description="passages kept per paper")
    context_tokens: int = Field(
        default=450, ge=100, le=16000, description="evidence budget in the prompt, in tokens")
    evidence: Literal["sentences", "passages", "abstracts"] = Field(
        default="sentences",
        description="what the prompt quotes from each paper (rag/messages.py)")
    evidence_top_share: float = Field(
        default=0.7, ge=0.0, le=1.0,
        description="share of the evidence budget the best-ranked paper may fill first "
                    "(rag/evidence.py)")
    focus_tokens: int = Field(
        default=320, ge=0, le=2000,
        description="tokens of evidence each paper in focus (the sides of a comparison, or the "
                    "top two when retrieval cannot tell them apart) may fill first, the budget "
                    "growing to fit them (rag/evidence.py); 0: only the top share")
    # Off: at 0.05, dev key facts 0.540 -> 0.520 on the items it changes (README, Evidence).
    runner_up_gap: float = Field(
        default=-1.0, le=1.0,
        description="the runner-up paper is in focus with the best-ranked one when its "
                    "similarity is within this of the best one's (rag/turns.py); negative: never")

    # --- LLM (OpenAI-compatible). Empty base_url = the embedded local server.
    openai_base_url: str | None = Field(
        default=None, validation_alias="OPENAI_BASE_URL",
        description="any OpenAI-compatible endpoint (unset: the embedded local model)")
    openai_api_key: str | None = Field(
        default=None, validation_alias="OPENAI_API_KEY", description="that endpoint's key")
    model: str = Field(
        default="qwen2.5-coder-1.5b-instruct", description="the answering model's name")
    provider: str = Field(
        default="openai",
        description='"openai" (any compatible endpoint) or "fake" (extractive stand-in: '
                    "tests, demos)")
    temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="sampling temperature")
    max_tokens: int = Field(
        default=320, ge=16, le=8192, description="answer length cap, in tokens")
    llm_timeout: float = Field(default=180.0, gt=0, description="seconds per LLM request")
    llm_retries: int = Field(default=2, ge=0, le=10, description="retries per LLM request")

    # --- verification judge (unset = the answering model and endpoint)
    judge_base_url: str | None = Field(
        default=None, description="a separate judge endpoint (unset: the answering one)")
    judge_model: str | None = Field(
        default=None, description="the judge's model name (unset: the answering model)")
    judge_api_key: str | None = Field(default=None, description="the judge endpoint's key")
    verify: Literal["off", "cheap", "judge"] = Field(
        default="cheap", description='the live check run on every answer: "off", "cheap" or '
                                     '"judge" (an LLM entailment judge)')

    # --- embedded local model server
    llm_host: str = Field(default="127.0.0.1", description="where the embedded server listens")
    llm_port: int = Field(
        default=8765, ge=1, le=65535, description="the embedded server's port")
    llm_threads: int = Field(
        default=2, ge=1, le=256, description="the embedded server's CPU threads")
    llm_ctx: int = Field(
        default=4096, ge=512, le=32768, description="the embedded server's context window")
    # Log-probabilities need llama.cpp to keep logits for every prompt token: ~16% slower prompt
    # reading and ~0.9 GB more memory on 2 cores (rag bench, 2026-11-24). Off by default; the
    # judge then reads the yes/no text.
    llm_logprobs: bool = Field(
        default=False,
        description="keep logits so the judge reads P(yes): calibrated judge scores for eval "
                    "runs, slower")
    model_path: Path | None = Field(
        default=None, description="the GGUF file (default: <home>/.models/<gguf>)")

    # --- answering
    max_question_chars: int = Field(
        default=2000, ge=10, description="longest question accepted, in characters")
    condense_history: bool = Field(
        default=True, description="follow-up questions use the earlier turns")
    condense_mode: Literal["context", "llm"] = Field(
        default="context",
        description='how a follow-up finds its papers: "context" keeps the previous turn\'s '
                    'sources (fast, no extra LLM call); "llm" rewrites it into a standalone '
                    "question first")

    # --- UI
    ui_host: str = Field(default="127.0.0.1", description="where the web UI listens")
    ui_port: int = Field(default=7860, ge=1, le=65535, description="the web UI's port")
    ui_auth: str | None = Field(
        default=None, description='"user:password" to require a login to the web UI')
    warm_up: bool = Field(
        default=True,
        description="load the embedder, index and local model (and its cache of the system "
                    "prompt) in the background when a server starts, so the first question "
                    "does not wait for them")

    # --- OpenAI-compatible server (`rag serve`, rag/server.py)
    serve_host: str = Field(
        default="127.0.0.1", description="where the OpenAI-compatible server listens")
    serve_port: int = Field(
        default=8710, ge=1, le=65535, description="the OpenAI-compatible server's port")
    serve_model: str = Field(default="rag-papers", description="the model id clients ask for")
    api_key: str | None = Field(
        default=None,
        description='when set, clients must send "Authorization: Bearer <key>"')
    # The local LLM answers one question at a time anyway: this bounds memory, not throughput.
    serve_threads: int = Field(
        default=32, ge=1, le=512,
        description="answers in flight at once; more requests wait for a thread")

    # --- feedback (rag/feedback.py)
    feedback_path: Path | None = Field(
        default=None,
        description="the thumbs up/down log, JSONL, append-only "
                    "(default: <home>/.feedback/feedback.jsonl)")

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data):
        # Runs on the values given (environment, keyword arguments) before the defaults are
        # filled in, so a preset only supplies what was not given.
        if not isinstance(data, dict):
            return data
        name = data.get("preset")
        values = PRESETS.get(name.strip().lower()) if isinstance(name, str) else None
        if values:
            data = {**values, **data}
        return data

    @field_validator("retrieval_mode", "condense_mode", "verify", "evidence", "fusion",
                     "preset", "embed_backend", mode="before")
    @classmethod
    def _choice(cls, v):
        # The Literal types say which values are allowed; case and spaces do not matter.
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("embed_model", "provider")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        if v not in {"openai", "fake"}:
            raise ValueError("must be 'openai' or 'fake'")
        return v

    @field_validator("embed_model")
    @classmethod
    def _embed(cls, v: str) -> str:
        if v not in {"minilm", "fake"}:
            raise ValueError("must be 'minilm' or 'fake'")
        return v

    @field_validator("api_key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    @field_validator("ui_auth")
    @classmethod
    def _auth(cls, v: str | None) -> str | None:
        if v and ":" not in v:
            raise ValueError("must look like user:password")
        return v or None

    @model_validator(mode="after")
    def _overlap(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("RAG_CHUNK_OVERLAP must be smaller than RAG_CHUNK_SIZE")
        if self.embed_base_url and not self.embed_api_model:
            raise ValueError("RAG_EMBED_BASE_URL is set: set RAG_EMBED_API_MODEL to the model "
                             "name that endpoint serves")
        return self

    # --- derived paths
    @property
    def corpus_dir(self) -> Path:
        return self.corpus_path or self.home / "data" / "corpus"

    @property
    def chroma_dir(self) -> Path:
        return self.chroma_path or self.home / ".index" / "chroma"

    @property
    def feedback_file(self) -> Path:
        return self.feedback_path or self.home / ".feedback" / "feedback.jsonl"

    @property
    def onnx_dir(self) -> Path:
        """Where `rag prepare-model` exports MiniLM to ONNX (rag/onnxmodel.py)."""
        return self.home / ".models" / "minilm-onnx"

    @property
    def embedder_id(self) -> str:
        """What the collection records as its embedder; querying with another is an error.
        MiniLM's ONNX and torch backends give the same vectors, so both are ``minilm``."""
        if self.embed_base_url:
            return f"api:{self.embed_api_model}@{self.embed_base_url.rstrip('/')}"
        return self.embed_model

    @property
    def gguf_path(self) -> Path:
        from rag.localmodel import GGUF_NAME

        return self.model_path or self.home / ".models" / GGUF_NAME

    @property
    def uses_local_llm(self) -> bool:
        return self.provider == "openai" and not self.openai_base_url

    def with_overrides(self, **kw) -> Settings:
        data = self.model_dump()
        data.update({k: v for k, v in kw.items() if v is not None})
        try:
            return Settings.model_validate(data)
        except ValidationError as e:
            raise SettingsError(_describe(e)) from None


# Shown as set/unset by `rag settings`, never printed: keys and the UI's password.
SECRET_FIELDS = frozenset({"openai_api_key", "embed_api_key", "judge_api_key", "api_key",
                           "ui_auth"})


def env_name(field: str) -> str:
    """The environment variable that sets ``field`` (an alias such as OPENAI_API_KEY wins over
    the RAG_ prefix)."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else f"RAG_{field.upper()}"


def explain(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable, value, description) for every field, in declaration order (`rag settings`)."""
    rows = []
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if value is None:
            shown = "(unset)"
        elif name in SECRET_FIELDS:
            shown = "(set)"
        elif isinstance(value, bool):
            shown = str(value).lower()
        else:
            shown = str(value)
        rows.append((env_name(name), shown, field.description or ""))
    return rows


def _describe(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err.get("loc", ())) or "settings"
        name = loc if loc.isupper() else f"RAG_{loc.upper()}"
        parts.append(f"{name}: {err.get('msg')}")
    return "Invalid setting — " + "; ".join(parts)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        raise SettingsError(_describe(e)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
