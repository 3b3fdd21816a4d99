"""Probe (not product code): would the asked judge move a which-paper answer to the right paper?

For every answered dev paraphrase in two recorded runs, the paper the answer cites first and the
other of the two best-ranked papers are each read with the question by the asked judge
(`Judge.answers`, prompts/asked.md). A swap is counted when the judge says no to the cited paper
and yes to the other one. Run from the repository root:
`.venv/bin/python eval/reports/2026-12-07-dev-swap-probe/probe.py > output.txt`.
Each output line: (id, cited paper is gold, other paper is gold, P(yes) cited, P(yes) other,
swap, asks_which).
"""

import json

from rag.corpus import load_corpus
from rag.identify import asks_which
from rag.settings import get_settings
from rag.types import Source
from rag.verify import Judge

RUNS = ["eval/reports/2026-12-07-dev-3kinds-topshare-930d138/results.jsonl",
        "eval/reports/2026-12-07-dev-new-items-482826f/results.jsonl"]


def main() -> None:
    judge = Judge(get_settings())
    papers = {p.paper_id: p for p in load_corpus("data/corpus")}

    def source(pid: str, n: int) -> Source:
        p = papers[pid]
        return Source(number=n, paper_id=pid, title=p.title, score=0, similarity=0,
                      abstract=p.abstract)

    rows = [json.loads(line) for f in RUNS for line in open(f)]
    out = []
    for d in rows:
        if d["kind"] != "paraphrase" or d["answer"]["refused"] or not d["answer"]["citations"]:
            continue
        cited = d["answer"]["citations"][0]["paper_id"]
        top2 = [x["paper_id"] for x in sorted(d["answer"]["sources"],
                                              key=lambda x: int(x["number"]))[:2]]
        other = next((p for p in top2 if p != cited), None)
        if other is None:
            continue
        p_cited = judge.answers(d["question"], source(cited, 1)).p
        p_other = judge.answers(d["question"], source(other, 2)).p
        swap = p_cited is not None and p_cited < 0.5 and p_other is not None and p_other >= 0.5
        gold = set(d["gold"])
        out.append((d["id"], cited in gold, other in gold, p_cited, p_other, swap,
                    asks_which(d["question"])))
        print(out[-1], flush=True)
    print("n", len(out), "swaps", sum(o[5] for o in out),
          "to gold", sum(o[5] and o[2] for o in out),
          "away from gold", sum(o[5] and o[1] for o in out))


if __name__ == "__main__":
    main()
