"""The test double for the chat model: deterministic, offline, no server.

Replies can be queued (`enqueue`); otherwise it answers extractively from the first source in
the prompt, which is enough for the pipeline's steps (retrieval, prompt, citation checks) to be
tested without an LLM. Every prompt it receives is kept in `history`.

Tests inject an instance with `rag.llm.use_model` (tests/conftest.py does it for every test).
A child process the tests start (`rag ui`, `rag ask`) cannot be handed an object, so
``RAG_PROVIDER=fake`` makes `rag.llm.get_model` return this module's shared instance.
"""

from __future__ import annotations

import re
from collections import deque

Message = dict[str, str]  # as in rag.llm (not imported from it: llm imports this module)


class FakeChat:
    """Deterministic stand-in for tests and offline demos. Records every prompt in `history`."""

    name = "fake"

    def __init__(self):
        self.replies: deque[str] = deque()
        self.history: list[list[Message]] = []

    def answer_prompts(self) -> list[list[Message]]:
        """The prompts that asked for an answer: `history` less the judge's yes/no questions."""
        return [m for m in self.history
                if not m[-1]["content"].rstrip().endswith("Answer with one word: yes or no.")]

    def enqueue(self, *replies: str) -> None:
        self.replies.extend(replies)

    def _reply(self, messages: list[Message]) -> str:
        if self.replies:
            return self.replies.popleft()
        prompt = messages[-1]["content"]
        if "Standalone question:" in prompt:
            follow_up = re.search(r"Follow-up question: (.*)", prompt)
            assert follow_up is not None, "the condense prompt names the follow-up question"
            return follow_up.group(1).strip()
        m = re.search(r"^\[1\] ([^\n]+)\n(.+?)(?:\n\n\[2\]|\n\nQuestion:)", prompt, re.M | re.S)
        if not m:
            return "The papers in this collection don't say."
        first_sentence = re.split(r"(?<=[.!?])\s+", m.group(2).strip())[0]
        return f"According to {m.group(1).strip()}, {first_sentence} [1]"

    def stream(self, messages, *, max_tokens, stop=None):
        self.history.append(messages)
        text = self._reply(messages)
        yield from re.findall(r"\S+\s*", text)

    def complete(self, messages, *, max_tokens, stop=None):
        return "".join(self.stream(messages, max_tokens=max_tokens, stop=stop))

    def verdict(self, messages, *, logprobs):
        return self.complete(messages, max_tokens=1), None


_shared = FakeChat()  # made at import, under the import lock: threads cannot race to make two


def shared_fake() -> FakeChat:
    """The one FakeChat a ``RAG_PROVIDER=fake`` process answers with."""
    return _shared
