import json

import pytest

from conftest import CORPUS
from rag.corpus import load_corpus, normalise_title, paper_id, parse_listing_text
from rag.errors import CorpusFormatError


def test_bundled_corpus_counts():
    papers = load_corpus(CORPUS)
    assert len(papers) == 449
    pairs = sum(len(parse_listing_text(f.read_text(), str(f)))
                for f in sorted(CORPUS.glob("0*.txt")))
    assert pairs == 463
    assert len({p.paper_id for p in papers}) == 449


def test_per_file_counts():
    counts = [len(parse_listing_text(f.read_text(), str(f))) for f in sorted(CORPUS.glob("0*.txt"))]
    assert counts == [238, 90, 68, 67]


def test_furniture_and_glued_title_removed():
    papers = load_corpus(CORPUS)
    titles = {p.title for p in papers}
    assert "Is Fast Adaptation All You Need?" in titles
    assert not any(t.startswith("Subscribe") for t in titles)
    furniture = {"new", "Subscribe", "byAK and the research community",
                 "Get trending papers in your email inbox!"}
    assert not titles & furniture
    assert any(t.startswith("μLO") for t in titles)


def test_listing_dates_kept():
    papers = load_corpus(CORPUS)
    dates = {p.listing_date for p in papers}
    assert {"Mar 11", "Mar 13", "Jun 30"} <= dates
    first = next(p for p in papers if p.title == "Is Fast Adaptation All You Need?")
    assert first.listing_date is None  # file 000 carries no date


def test_duplicates_merge_with_all_source_files():
    papers = load_corpus(CORPUS)
    multi = [p for p in papers if len(p.source_files) > 1]
    assert multi and all(p.abstract for p in multi)
    # 463 listings collapse onto 449 papers; each merged paper remembers every file it came from.
    by_file = sum(len(p.source_files) for p in papers)
    assert 449 < by_file <= 463


def test_stable_ids_ignore_case_and_spacing():
    assert paper_id("Attention Is All You Need") == paper_id("  attention is  all you need ")
    assert paper_id("A: b?") == paper_id("a b")
    assert paper_id("X") != paper_id("Y")
    assert normalise_title("μLO: Foo") == "μlo foo"


ABSTRACT = " ".join(["word"] * 30) + "."


def test_jsonl_corpus(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text(json.dumps({"title": "T1", "abstract": ABSTRACT}) + "\n\n"
                 + json.dumps({"title": "T2", "abstract": "short but fine", "date": "Jan 2"})
                 + "\n")
    papers = load_corpus(f)
    assert [p.title for p in papers] == ["T1", "T2"]
    assert papers[1].listing_date == "Jan 2"


@pytest.mark.parametrize("line,msg", [
    ("{not json", "not valid JSON"),
    ('{"title": "x"}', "missing or empty field(s): abstract"),
    ('["a", "b"]', "expected a JSON object"),
])
def test_jsonl_errors_name_file_and_line(tmp_path, line, msg):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"title": "ok", "abstract": ABSTRACT}) + "\n" + line + "\n")
    with pytest.raises(CorpusFormatError) as e:
        load_corpus(f)
    assert f"{f}:2:" in str(e.value) and msg in str(e.value)


def test_text_file_directory(tmp_path):
    (tmp_path / "a.md").write_text("# My Paper\n\nFirst paragraph.\nSecond line.\n")
    (tmp_path / "b.txt").write_text("Other Paper\nBody text here.\n")
    papers = load_corpus(tmp_path)
    assert {p.title for p in papers} == {"My Paper", "Other Paper"}
    mine = next(p for p in papers if p.title == "My Paper")
    assert mine.abstract == "First paragraph. Second line."


@pytest.mark.parametrize("content,msg", [
    (b"", "empty"),
    (b"\x00\x01\x02binary", "binary"),
    (b"Title\n\xff\xfe not utf8 " + b"w " * 30, "not valid UTF-8"),
])
def test_bad_files(tmp_path, content, msg):
    f = tmp_path / "x.txt"
    f.write_bytes(content)
    with pytest.raises(CorpusFormatError, match=msg):
        load_corpus(f)


def test_unknown_format_and_missing_path(tmp_path):
    f = tmp_path / "x.pdf"
    f.write_bytes(b"%PDF")
    with pytest.raises(CorpusFormatError, match="unknown corpus format"):
        load_corpus(f)
    with pytest.raises(CorpusFormatError, match="no such file"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "only.pdf").write_bytes(b"x")
    with pytest.raises(CorpusFormatError, match="no .txt, .md or .jsonl"):
        load_corpus(tmp_path)


def test_listing_with_missing_abstract_names_line(tmp_path):
    f = tmp_path / "page.txt"
    f.write_text("Subscribe\nA Title\n" + ABSTRACT + "\nDangling Title\n")
    with pytest.raises(CorpusFormatError,
                       match=r"page.txt:4: title 'Dangling Title' has no abstract"):
        load_corpus(f)
