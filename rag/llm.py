"""Chat models behind one small interface, and the embedded local server's lifecycle.

* `OpenAIChat`: any OpenAI-compatible endpoint through the `openai` client (hosted APIs, vLLM,
  Ollama, llama.cpp). When no `OPENAI_BASE_URL` is set it talks to the project's own embedded
  server on 127.0.0.1, starting it on demand and stopping it when the process exits.
* The test double (`rag.fake_llm.FakeChat`, ``RAG_PROVIDER=fake``) lives in its own module and
  is imported only when that provider is asked for; tests inject theirs with `use_model`.

Failures become `LLMUnavailable` with a message that says what to do. A stream that breaks
mid-answer raises too: a partial answer is never returned as if it were complete.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any, Protocol

from rag.errors import LLMUnavailable, ModelNotPrepared
from rag.settings import Settings, get_settings

Message = dict[str, str]


class LogprobsRejected(Exception):
    """The endpoint refuses log-probabilities (llama-cpp-python's server without
    --logits_all, and many hosted APIs): ask for the text instead."""


class ChatModel(Protocol):
    name: str

    def stream(self, messages: list[Message], *, max_tokens: int, stop: list[str] | None = None
               ) -> Iterator[str]: ...

    def complete(self, messages: list[Message], *, max_tokens: int,
                 stop: list[str] | None = None) -> str: ...

    def verdict(self, messages: list[Message], *, logprobs: bool) -> tuple[str, Any]:
        """A one-token answer (the judge's yes/no): (its text, the first token's top
        log-probabilities when ``logprobs`` and the endpoint returns them, else None).
        Raises `LogprobsRejected` when the endpoint refuses ``logprobs``."""
        ...


class OpenAIChat:
    def __init__(self, settings: Settings, base_url: str | None, api_key: str, restart=None):
        from openai import OpenAI

        self.restart = restart  # callable that brings the embedded server back, or None
        self.settings = settings
        self.name = settings.model
        self.base_url = base_url
        self.client = OpenAI(
            base_url=base_url, api_key=api_key, timeout=settings.llm_timeout,
            max_retries=settings.llm_retries,
        )

    def stream(self, messages, *, max_tokens, stop=None):
        """Stream text deltas. If the embedded server goes away before the first delta (another
        process that had started it exited), it is restarted and the request retried once;
        after text has been yielded, a failure is raised, never papered over."""
        started = False
        try:
            for delta in self._stream(messages, max_tokens=max_tokens, stop=stop):
                started = True
                yield delta
        except LLMUnavailable:
            if started or self.restart is None:
                raise
            self.restart()
            yield from self._stream(messages, max_tokens=max_tokens, stop=stop)

    def _stream(self, messages, *, max_tokens, stop=None):
        import httpx
        import openai

        try:
            resp = self.client.chat.completions.create(
                model=self.name, messages=messages, stream=True, max_tokens=max_tokens,
                temperature=self.settings.temperature, stop=stop or None,
            )
            finished = False
            for chunk in resp:
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta.content if choice.delta else None
                if delta:
                    yield delta
                if choice.finish_reason:
                    finished = True
            if not finished:
                raise LLMUnavailable(
                    f"The model's answer stream from {self.base_url} ended before the answer "
                    "was complete; try again."
                )
        except openai.APITimeoutError:
            raise LLMUnavailable(
                f"The model at {self.base_url} did not answer within "
                f"{self.settings.llm_timeout:.0f} s; try again, or raise RAG_LLM_TIMEOUT."
            ) from None
        except openai.APIConnectionError:
            raise LLMUnavailable(
                f"Cannot reach the model endpoint {self.base_url}. Is the server running? "
                "(Unset OPENAI_BASE_URL to use the embedded local model.)"
            ) from None
        except openai.RateLimitError:
            raise LLMUnavailable(
                f"The model endpoint {self.base_url} is rate-limiting requests (HTTP 429) even "
                "after retries; wait a moment and try again."
            ) from None
        except openai.AuthenticationError:
            raise LLMUnavailable(
                f"The model endpoint {self.base_url} rejected the API key (HTTP 401); check "
                "OPENAI_API_KEY."
            ) from None
        except openai.NotFoundError:
            raise LLMUnavailable(
                f"The endpoint {self.base_url} has no model {self.name!r} (HTTP 404); check "
                "RAG_MODEL."
            ) from None
        except openai.APIStatusError as e:
            raise LLMUnavailable(
                f"The model endpoint {self.base_url} failed with HTTP {e.status_code}; try again "
                "later."
            ) from None
        except (openai.APIError, ValueError, httpx.HTTPError) as e:
            # Malformed responses (bad JSON in the stream) and broken connections land here.
            raise LLMUnavailable(
                f"The model endpoint {self.base_url} sent a response that could not be read "
                f"({type(e).__name__}); try again."
            ) from None

    def complete(self, messages, *, max_tokens, stop=None):
        return "".join(self.stream(messages, max_tokens=max_tokens, stop=stop))

    def verdict(self, messages, *, logprobs):
        import openai

        if logprobs:
            try:
                resp = self.client.chat.completions.create(
                    model=self.name, messages=messages, max_tokens=1, temperature=0.0,
                    logprobs=True, top_logprobs=5,
                )
            except (openai.BadRequestError, openai.InternalServerError,
                    openai.UnprocessableEntityError):
                raise LogprobsRejected from None
            except openai.APIError as e:
                raise LLMUnavailable(f"The judge model could not be reached: {e}") from None
            choice = resp.choices[0]
            return choice.message.content or "", first_token_top_logprobs(choice)
        try:
            resp = self.client.chat.completions.create(
                model=self.name, messages=messages, max_tokens=3, temperature=0.0)
        except openai.APIError as e:
            raise LLMUnavailable(f"The judge model could not be reached: {e}") from None
        return resp.choices[0].message.content or "", None


def first_token_top_logprobs(choice: Any) -> Any:
    """The first generated token's top_logprobs, from either response shape, or None."""
    lp = getattr(choice, "logprobs", None)
    if lp is None and isinstance(choice, dict):
        lp = choice.get("logprobs")
    if lp is None:
        return None
    content = getattr(lp, "content", None) if not isinstance(lp, dict) else lp.get("content")
    if content:
        first = content[0]
        top = getattr(first, "top_logprobs", None) if not isinstance(first, dict) \
            else first.get("top_logprobs")
        if top:
            return top
        return [first]  # no alternatives listed: the chosen token alone
    legacy = lp.get("top_logprobs") if isinstance(lp, dict) else getattr(lp, "top_logprobs", None)
    if legacy:
        return legacy[0]
    return None


# ---------------------------------------------------------------- embedded local server

class LocalServer:
    """llama-cpp-python's OpenAI-compatible server for the packaged GGUF, on 127.0.0.1."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = f"http://{settings.llm_host}:{settings.llm_port}/v1"
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def healthy(self, timeout: float = 1.0) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/models", timeout=timeout) as r:
                return r.status == 200
        except Exception:
            return False

    def command(self) -> list[str]:
        s = self.settings
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(s.gguf_path), "--model_alias", s.model,
            "--host", s.llm_host, "--port", str(s.llm_port),
            "--n_ctx", str(s.llm_ctx), "--n_threads", str(s.llm_threads),
            "--n_threads_batch", str(s.llm_threads), "--n_batch", "512",
            "--flash_attn", "true", "--logits_all", "true" if s.llm_logprobs else "false",
            # By default llama-cpp-python ends a running answer's stream (no finish reason)
            # when a second request arrives: with two chat users, one answer failed. Queue.
            "--interrupt_requests", "false",
        ]

    def check_prepared(self) -> None:
        from rag.localmodel import is_ready

        if not is_ready(self.settings.gguf_path):
            raise ModelNotPrepared(
                f"The local model is not assembled at {self.settings.gguf_path}; run "
                "`rag prepare-model` (or `make run`), or set OPENAI_BASE_URL to another endpoint."
            )
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise ModelNotPrepared(
                "llama-cpp-python is not installed; run `make install` (it compiles once, "
                "~7 min), or set OPENAI_BASE_URL to another OpenAI-compatible endpoint."
            ) from None

    def listening(self) -> bool:
        """Something accepts connections on the port (maybe a server busy answering)."""
        try:
            with socket.create_connection((self.settings.llm_host, self.settings.llm_port),
                                          timeout=1.0):
                return True
        except OSError:
            return False

    def _await_other(self, wait: float) -> str:
        """Another process's server holds the port. llama-cpp-python answers /v1/models only
        between generations (the handler takes the model lock), so a busy server looks dead
        to a short health check: wait for it rather than start a second one that cannot bind."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.healthy(timeout=min(10.0, max(0.5, deadline - time.monotonic()))):
                return self.url
            if not self.listening():
                break
            time.sleep(0.25)
        raise LLMUnavailable(
            f"Port {self.settings.llm_port} is held by a process that did not answer as a "
            f"model server within {wait:.0f} s. Set RAG_LLM_PORT to a free port, or stop "
            "that process."
        )

    def ensure(self, wait: float = 180.0) -> str:
        with self._lock:
            if self.healthy():
                return self.url
            if (self.proc is None or self.proc.poll() is not None) and self.listening():
                return self._await_other(wait)
            self.check_prepared()
            if self.proc is None or self.proc.poll() is not None:
                log = self.settings.gguf_path.parent / "llm-server.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                self.proc = subprocess.Popen(
                    self.command(), stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
                atexit.register(self.stop)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    # Another process may have won the race for the port: use its server.
                    if self.listening():
                        return self._await_other(max(5.0, deadline - time.monotonic()))
                    raise LLMUnavailable(
                        f"The local model server exited (code {self.proc.returncode}); see "
                        f"{self.settings.gguf_path.parent / 'llm-server.log'}. Is port "
                        f"{self.settings.llm_port} taken? Set RAG_LLM_PORT to another one."
                    )
                if self.healthy(timeout=0.5):
                    return self.url
                time.sleep(0.25)
            self.stop()
            raise LLMUnavailable(f"The local model server did not start within {wait:.0f} s.")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def serve_forever(self) -> int:
        """`rag serve-llm`: run the server in the foreground until interrupted."""
        self.check_prepared()
        return subprocess.call(self.command())


_servers: dict[tuple, LocalServer] = {}
_models: dict[tuple, ChatModel] = {}
_injected: ChatModel | None = None
_registry_lock = threading.Lock()


def local_server(settings: Settings) -> LocalServer:
    key = (settings.llm_host, settings.llm_port, str(settings.gguf_path))
    with _registry_lock:
        if key not in _servers:
            _servers[key] = LocalServer(settings)
        return _servers[key]


def stop_local_servers() -> None:
    """Stop every embedded model server this process started (on exit and on SIGTERM/SIGHUP:
    each holds ~2 GB and would otherwise outlive the app)."""
    with _registry_lock:
        servers = list(_servers.values())
    for server in servers:
        server.stop()


def use_model(model: ChatModel | None) -> None:
    """Answer with ``model`` (whatever the settings say) until called with None: how tests
    put their scripted model in. Process-wide, so the UI's and the load tests' worker
    threads see it too."""
    global _injected
    _injected = model


def get_model(settings: Settings | None = None) -> ChatModel:
    if _injected is not None:
        return _injected
    settings = settings or get_settings()
    if settings.provider == "fake":
        # For child processes started by tests (`rag ui`, `rag ask`) and demos, which cannot
        # be handed a model object; imported here so production code never loads it.
        from rag.fake_llm import shared_fake

        return shared_fake()
    restart = None
    if settings.uses_local_llm:
        server = local_server(settings)
        base_url: str | None = server.ensure()
        api_key = "local"
        restart = server.ensure
    else:
        base_url = settings.openai_base_url
        api_key = settings.openai_api_key or os.environ.get("OPENAI_API_KEY") or "none"
    # Every setting OpenAIChat reads: a cached client built with other values would be reused
    # silently (with_overrides(llm_retries=…) kept the old retry count).
    key = (base_url, api_key, settings.model, settings.temperature, settings.llm_timeout,
           settings.llm_retries, settings.max_tokens)
    with _registry_lock:
        if key not in _models:
            _models[key] = OpenAIChat(settings, base_url, api_key, restart=restart)
        return _models[key]


def describe(settings: Settings | None = None) -> str:
    """Human-readable 'which model, where' for the UI and CLI."""
    settings = settings or get_settings()
    if settings.provider == "fake":
        return "fake model (tests/demo)"
    if settings.uses_local_llm:
        return f"{settings.model} (embedded, {settings.llm_host}:{settings.llm_port})"
    return f"{settings.model} @ {settings.openai_base_url}"
