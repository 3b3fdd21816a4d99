"""The constants that decide behaviour, in one place, each with the measurement that chose it.

"Not measured" means what it says: the value was set when the rule was written and no sweep
of it is recorded (git log -S on the value finds the commit). Changing one of those is a
tuning decision like any other: try it on the dev split (`rag eval --split dev`, `rag bench
levers`), then report on test.

User-facing knobs (top-k, the relevance floor, the evidence budget) are Settings fields
(rag/settings.py, README "Settings"); these are the rules' inner constants.
"""

from __future__ import annotations

# --- citation checking (rag/citations.py, and the eval's cheap checks in rag/verify.py)

#: An uncited sentence gets the source holding at least this share of its content words; a
#: cited one is re-pointed only to a source that holds this much. Not measured (set with the
#: first checker, f433303, 2026-11-24).
ATTACH_COVERAGE = 0.6
#: ...and only when that source covers this much more of the sentence than the cited ones.
#: Not measured (6545439, 2026-11-24, with the real-model integration tests that showed the
#: model citing a neighbour of the paper it copied from).
REPOINT_MARGIN = 0.3
#: A claim is supported only when at least this share of its content words are in the papers
#: it cites ("most of its words", README Evaluation). Not measured (3607305, 2026-11-24); the
#: judged eval reports how often the judge agrees with the cheap checks built on it.
MIN_COVERAGE = 0.5

# --- the entailment judge (rag/verify.py, eval/judged.py)

#: P(yes) at or above this counts as supported: the even-odds point of a yes/no judge, not
#: tuned; the judge's accuracy at it is measured on the held-out calibration pairs (README
#: Evaluation, "judge calibration").
JUDGE_THRESHOLD = 0.5

# --- evidence selection (rag/evidence.py)

#: A sentence's score is its cosine similarity to the question plus this times its share of
#: the question's content words. Not measured (6b3bf2a, 2026-11-24); the evidence levers
#: (`rag bench evidence`) measured the selection as a whole with this weight.
EVIDENCE_LEXICAL_WEIGHT = 0.3

# --- the answer prompt (rag/messages.py) and condensing a follow-up (rag/turns.py)

#: The answer length the system prompt asks for ("at most 4 sentences"). Not measured (set
#: with the first prompt, f433303); `RAG_MAX_TOKENS` caps the length independently.
MAX_ANSWER_SENTENCES = 4
#: Characters of each earlier answer shown to the LLM that rewrites a follow-up
#: (RAG_CONDENSE_MODE=llm). Not measured (f433303).
CONDENSE_ANSWER_CHARS = 400
#: Tokens the rewritten question may take. Not measured (f433303).
CONDENSE_MAX_TOKENS = 80

# --- listing answers (rag/listing.py), chosen on the dev listing items only
# (`python -m eval.listing_bench`, 053c35f, 2026-12-01: dev matches 0.93 precise at 0.63
# recall, with the possibly-relevant tier 0.79 recall at 0.79 precision; retrieval only)

#: A paper matches when its best passage is within this share of the best paper's cosine...
LISTING_MATCH_REL = 0.9
#: ...and it holds at least this share of the question's topic words (a close paper sharing
#: fewer is only "possibly relevant"). 0.5 until 2026-12-07; re-chosen with LISTING_POSSIBLE_REL
#: on the 65 dev listing items (18 when first set; grid 0.2-0.5 x 0.6-0.75, /tmp sweep of
#: `eval.listing_bench`): matches 0.662 -> 0.702 recall at 0.794 precision both, the listed
#: set 0.828 -> 0.859 recall at 0.539 -> 0.479 precision (4.7 -> 5.5 entries an answer),
#: items with no match 2 -> 1. Lower shares buy match recall with precision (0.3: 0.712/0.758).
LISTING_MATCH_MIN_TOPIC = 0.34
#: A paper is "possibly relevant" when it is among the first LISTING_POSSIBLE_RANK retrieved
#: and within this share of the best paper's cosine (0.75 until 2026-12-07, see above).
LISTING_POSSIBLE_REL = 0.7
LISTING_POSSIBLE_RANK = 8
#: A paper also matches when its cosine to the topic stands this many standard deviations above
#: the collection's papers (`retrieval.similarity_spread`). Chosen on the dev listing items
#: (/tmp prototype, 2026-12-02; 3.0/3.25/3.5/3.75/4.0 tried): matches 0.63 -> 0.80 recall at
#: 0.93 -> 0.85 precision, the listed set (with "possibly relevant") 0.85 recall either way;
#: test, reported only: matches 0.35 -> 0.46 recall at 0.78 -> 0.72 precision.
LISTING_MATCH_Z = 3.5
