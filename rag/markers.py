"""What a citation marker means where the model put it: a citation, or a paper's name.

A small model writes "[2] proposes Y, while [1] …" (markers as names), "The papers on X are
[1], [2], and [3]." (an enumeration), "… threshold. [1] diffGrad, on the other hand, …" (a
citation after the period) and the sources block's layout back. `rag.citations` strips markers
and re-attaches them at the end of each sentence; these rules decide first which paper a marker
stands for, and `tidy` repairs what removing them leaves behind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.types import Source

# Where a name starts: a capital, or a coined name written lower-case first ("diffGrad").
_NAME_START = r"(?:[A-Z]|[^\W\d_]\w*[A-Z0-9])"
# A run of markers: "[1]", "[1] and [2]", "[1], [2], and [3]".
_MARKER_RUN = re.compile(r"\[\d+\](?:\s*(?:,\s*and|,|and|or)?\s*\[\d+\])*")
# What comes before a marker that is used as a name ("are [1] and [2]", "For example, [1] …").
_NAME_CUE = re.compile(
    r"(?:^|\b(?:are|is|was|were|include|includes|including|namely|see|by|in|from|both|while|"
    r"whereas|and|or|like|as|e\.g\.,?|i\.e\.,?)|[:;(])\s*$", re.I)


def name_markers(sentence: str, by_num: dict[int, Source]) -> str:
    """Put the paper's title before a marker the model used as a name.

    A small model writes "The papers on X are [1], [2], and [3]." or "[2] proposes Y, while [1]
    …". Markers are removed from the text and re-attached at the end of the sentence, which
    left "The papers on X are,, and [1][2][3]." — the answer to a listing question vanished.
    Where a marker stands in a name's place (at the start of a sentence or after "are", "and",
    "e.g.", a comma before a verb, …), the title goes in front of it: "are Barlow Twins [1], …".
    A marker followed by a capitalised word ("[1] Consistency Models", the sources block's
    layout copied back, or "[1] NegToMe, on the other hand, …", "[1] diffGrad …") precedes a
    name and only cites it. "[1], [2], and [3]" after a noun enumerates papers: "…: Title A
    [1], Title B [2], and Title C [3]"; "[1], [2]" is a citation group, whose commas go with
    the markers."""
    out, last = [], 0
    for m in _MARKER_RUN.finditer(sentence):
        before, after = sentence[:m.start()], sentence[m.end():]
        word_follows = bool(re.match(r"\s*[A-Za-z]", after))
        as_name = (_NAME_CUE.search(before) is not None and (before.strip() != "" or word_follows)
                   or (before.rstrip().endswith(",") and word_follows))
        parts = re.split(r"(\[\d+\])", m.group(0))  # "", "[1]", sep, "[2]", …, ""
        nums = parts[1::2]
        colon = False
        if re.match(rf"\s*{_NAME_START}", after):
            # "[1] NegToMe, on the other hand, …", "[1] Consistency Models …": a name follows,
            # the marker only cites it.
            as_name = False
        elif not as_name and re.search(r"\]\s*,?\s*(?:and|or)\s*\[", m.group(0)):
            # "… segmentation [1], [2], and [3]." enumerates papers (a citation group is
            # "[1][2][3]" or "[1], [2]"): their titles follow a colon.
            as_name = colon = True
        out.append(sentence[last:m.start()].rstrip() + ": " if colon
                   else sentence[last:m.start()])
        run = "".join(nums)
        if as_name:
            for k, mark in enumerate(nums):
                n = int(mark[1:-1])
                parts[2 * k + 1] = f"{by_num[n].title} {mark}" if n in by_num else mark
                if k and not parts[2 * k].strip():  # adjacent "[1][2]" used as names
                    parts[2 * k] = " and " if k == len(nums) - 1 else ", "
            run = "".join(parts)
        out.append(run)
        last = m.end()
    out.append(sentence[last:])
    return "".join(out)


def tidy(sentence: str, titles: Sequence[str] = ()) -> str:
    """Repair what removing markers or naming a marker's paper leaves behind: doubled
    punctuation ("The first paper,, focuses"), a space before it, and a title written twice in
    a row ("diffGrad: An … diffGrad: An …", when the model wrote the title and then [n] as
    its name)."""
    out = re.sub(r"([,;:])(\s*[,;:])+", r"\1", sentence)
    out = re.sub(r"[,;:]\s*([.!?])", r"\1", out)
    out = re.sub(r"\s+([,;:.!?])", r"\1", out)
    for title in titles:
        if len(title) < 12:  # a short name may rightly repeat ("GAN vs. GAN")
            continue
        t = re.escape(title.strip().rstrip("."))
        out = re.sub(rf"({t})[\s,:;-]*\1", r"\1", out)
    return re.sub(r"\s{2,}", " ", out).strip()


# Markers opening a sentence, followed by a name they cite rather than stand for
# (name_markers' rule): "[1] diffGrad, on the other hand, …", "[2] NegToMe …".
LEADING_CITATION = re.compile(rf"\s*((?:\[\d+\]\s*)+)(?={_NAME_START})")
