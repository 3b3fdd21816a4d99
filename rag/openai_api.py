"""The OpenAI chat-completions wire format, for `rag serve` (rag/server.py): a request body
checked into a `ChatRequest`, and an `Answer` shaped as a completion or as stream chunks.

Validation is by hand rather than a pydantic request model so that each rejection names the
offending field the way OpenAI does (``param: "messages[1].role"``) with a sentence a person
can act on, and so that every error has OpenAI's shape:
``{"error": {"message", "type", "param", "code"}}``.

A client's ``system`` messages are accepted and ignored: the bot answers from the papers under
its own fixed system prompt (which also keeps the local model's prefix cache warm), and text
that arrives in a request is data, never instructions that replace that prompt.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from rag import render
from rag.errors import (
    BadInput,
    IndexBusy,
    IndexNotFound,
    IndexUnavailable,
    LLMUnavailable,
    ModelNotPrepared,
    RagError,
)
from rag.settings import RETRIEVAL_MODES
from rag.types import Answer

#: The extra field of a completion (and of the final stream chunk) with the structured answer.
EXTRA = "rag"
_ROLES = ("system", "developer", "user", "assistant")


class ApiError(Exception):
    """An error response in OpenAI's format."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = (
            status, message, type_, param, code)

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def from_rag_error(e: RagError) -> ApiError:
    """A library error as an HTTP error: the message is the library's own (it says what to
    do); unavailable index or model is 503 so clients know to retry later, bad input 400."""
    if isinstance(e, BadInput):
        return ApiError(400, str(e), param="messages", code="invalid_value")
    if isinstance(e, (IndexNotFound, IndexUnavailable, IndexBusy)):
        return ApiError(503, str(e), type_="server_error", code="index_unavailable")
    if isinstance(e, (LLMUnavailable, ModelNotPrepared)):
        return ApiError(503, str(e), type_="server_error", code="llm_unavailable")
    return ApiError(500, str(e), type_="server_error", code=type(e).__name__)


@dataclass
class ChatRequest:
    question: str
    history: list[dict] = field(default_factory=list)  # earlier user/assistant turns
    stream: bool = False
    include_usage: bool = False
    top_k: int | None = None
    mode: str | None = None


def _text(content: Any, param: str) -> str:
    """A message's content: a string, or OpenAI's list of {"type": "text", "text": …} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text"
                    and isinstance(part.get("text"), str)):
                raise ApiError(400, f"{param}[{i}] must be a text part "
                               '({"type": "text", "text": "..."}); this bot reads text only.',
                               param=f"{param}[{i}]", code="invalid_type")
            parts.append(part["text"])
        return "".join(parts)
    raise ApiError(400, f"{param} must be a string (or a list of text parts), not "
                   f"{type(content).__name__}.", param=param, code="invalid_type")


def _optional_int(body: dict, name: str, low: int, high: int) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        raise ApiError(400, f"{name} must be an integer from {low} to {high}.", param=name,
                       code="invalid_value")
    return v


def parse_chat_request(body: Any, served_model: str) -> ChatRequest:
    """Check a /v1/chat/completions body; raise `ApiError` naming the first bad field."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, f"model is required; this server serves {served_model!r}.",
                       param="model", code="missing_required_parameter")
    if model != served_model:
        raise ApiError(404, f"The model {model!r} does not exist; this server serves "
                       f"{served_model!r} (GET /v1/models).", type_="not_found_error",
                       param="model", code="model_not_found")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list of {role, content} objects "
                       "ending with the user's question.", param="messages",
                       code="invalid_value" if isinstance(messages, list)
                       else "missing_required_parameter")
    turns: list[dict] = []
    for i, m in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(m, dict):
            raise ApiError(400, f"{param} must be an object with role and content.",
                           param=param, code="invalid_type")
        role = m.get("role")
        if role not in _ROLES:
            raise ApiError(400, f"{param}.role must be one of {', '.join(_ROLES)} "
                           f"(got {role!r}); tools are not supported.", param=f"{param}.role",
                           code="invalid_value")
        text = _text(m.get("content"), f"{param}.content")
        if role in ("user", "assistant"):
            if role == "assistant":
                text = render.strip_references(text)  # our own references, sent back
            turns.append({"role": role, "content": text})
    if not turns or turns[-1]["role"] != "user":
        raise ApiError(400, "The last user/assistant message must be the user's question "
                       "(role 'user').", param=f"messages[{len(messages) - 1}].role",
                       code="invalid_value")
    n = body.get("n")
    if n not in (None, 1):
        raise ApiError(400, "n must be 1: the bot gives one answer per question.", param="n",
                       code="invalid_value")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise ApiError(400, "stream must be true or false.", param="stream",
                       code="invalid_type")
    options = body.get("stream_options") or {}
    mode = body.get("retrieval_mode")
    if mode is not None and mode not in RETRIEVAL_MODES:
        raise ApiError(400, f"retrieval_mode must be one of {', '.join(RETRIEVAL_MODES)}.",
                       param="retrieval_mode", code="invalid_value")
    return ChatRequest(
        question=turns[-1]["content"], history=turns[:-1], stream=bool(stream),
        include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
        top_k=_optional_int(body, "top_k", 1, 50), mode=mode,
    )


# --- responses

def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(answer: Answer) -> dict:
    # Word counts, not tokens: the answering model's tokenizer is not this process's business,
    # and clients only use these for display.
    completion = len(answer.text.split())
    prompt = len(answer.question.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def extra(answer: Answer, completion_id: str) -> dict:
    """The structured answer a client that knows it can render as cards."""
    return {**render.answer_payload(answer), "completion_id": completion_id,
            "question": answer.question}


def completion(answer: Answer, completion_id: str, model: str) -> dict:
    return {
        "id": completion_id, "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant",
                                 "content": render.text_with_references(answer)}}],
        "usage": usage(answer),
        EXTRA: extra(answer, completion_id),
    }


def chunk(completion_id: str, model: str, created: int, delta: dict,
          finish_reason: str | None = None, **more: Any) -> dict:
    return {"id": completion_id, "object": "chat.completion.chunk", "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                         "logprobs": None}],
            **more}


def _words(text: str) -> str:
    return re.sub(r"[\s.,;:!?]+", "", text)


def same_words(a: str, b: str) -> bool:
    """Equal but for spacing and punctuation (markers included)."""
    return _words(a) == _words(b)


def stream_tail(answer: Answer, streamed: str) -> str:
    """The last content delta of a stream: what the final, checked text adds to what was
    streamed, then the references.

    The checked text is authoritative (a citation attached after generation, a title put where
    the model used a marker as a name, a refusal when nothing was supported). A stream cannot
    take text back, so when the checked text is not a continuation of what was streamed it is
    sent again in full under a line saying it replaces the draft; the extra field carries it
    alone."""
    refs = render.references_text(answer)
    refs = f"\n\n{refs}" if refs else ""
    if not streamed.strip():
        return answer.text + refs
    if same_words(answer.text, streamed):
        # The checks only moved a marker past a full stop or tidied spaces: the draft stands.
        return refs
    if answer.text.startswith(streamed):
        return answer.text[len(streamed):] + refs
    return f"\n\n---\nChecked answer (replaces the draft above):\n\n{answer.text}{refs}"
