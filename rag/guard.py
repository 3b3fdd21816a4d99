"""Keep text from documents in its place: data, never instructions.

The system prompt already tells the model that sources are data, but a 1.5B model follows a
loud "IGNORE ALL PREVIOUS INSTRUCTIONS" inside a source anyway. So sentences that address an
AI assistant rather than describe research (instruction overrides, fake role lines, orders to
reply or cite something) are removed from what the model sees. No paper needs those sentences
to be understood; the full abstract is still shown to the user in the sources panel.
"""

from __future__ import annotations

import re

_PATTERNS = [
    r"\b(ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(instructions?|prompts?|rules|"
    r"guidelines|context|everything)\b",
    r"(^|[\s.!?>\"'])(system|assistant|user|developer)\s*:",
    r"<\|?(im_start|im_end|system|endoftext)\|?>",
    r"\byou are now\b|\bact as\b|\bpretend (to be|you are)\b|\bnew instructions?\b",
    r"\b(reply|respond|answer|output|say|print|write)\b[^.!?\n]{0,30}\b(only|exactly|"
    r"verbatim)\b",
    r"\b(always|must|do not|don't|never)\b[^.!?\n]{0,20}\bcite\b|\bcite\s*\[\d+\]",
    r"\b(system prompt|jailbreak|prompt injection)\b",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.I)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
REMOVED = "[instruction-like text removed]"


def looks_like_instruction(sentence: str) -> bool:
    return bool(_INSTRUCTION.search(sentence))


def neutralise(text: str) -> str:
    """Replace instruction-like sentences in document text with a placeholder."""
    parts = _SENTENCES.split(text)
    if not any(looks_like_instruction(p) for p in parts):
        return text
    out: list[str] = []
    for p in parts:
        if looks_like_instruction(p):
            if not out or out[-1] != REMOVED:
                out.append(REMOVED)
        elif p:
            out.append(p)
    return " ".join(out)
