from __future__ import annotations

from pathlib import Path

from ragkit.embedders import SentenceTransformerEmbedder
from ragkit.indexers import load_document
from ragkit.indexers.chunking import Chunker

SENTENCE = "The rotation job renews every credential that the vault issued before the cutoff date. "


def test_chunks_never_exceed_the_embedders_real_limit(embedder: SentenceTransformerEmbedder) -> None:
    text = "# Keys\n\n## Rotation\n\n" + SENTENCE * 60 + "\n\n" + ("word " * 2000) + "\n\n" + "x" * 5000
    doc = load_document(Path("k.md"), text.encode())
    chunker = Chunker(embedder.counter, embedder.max_tokens)
    chunks = chunker.chunk(doc)
    real = embedder.counter.count([c.embed_text for c in chunks])
    assert max(real) <= embedder.max_tokens  # nothing is silently truncated by the model
    assert [c.tokens for c in chunks] == real  # the chunker's own count is exact
    # No word is cut in two; only the 5000-letter "word" had to be.
    words = {"#", "##", "Keys", "Rotation", "word", *SENTENCE.split()}
    for c in chunks:
        assert all(w in words or set(w) == {"x"} for w in c.text.split())
    assert "".join(c.text for c in chunks).count("x") == 5000  # and nothing of it was lost


def test_heading_path_is_embedded_but_not_displayed(embedder: SentenceTransformerEmbedder) -> None:
    text = "# Security\n\n## API keys\n\n" + SENTENCE * 20 + "\n\n" + SENTENCE * 20
    chunks = Chunker(embedder.counter, 192).chunk(load_document(Path("s.md"), text.encode()))
    later = chunks[-1]
    assert later.embed_text.startswith("Security > API keys\n")
    assert not later.text.startswith("Security")
    assert later.headings == ("Security", "API keys")


def test_line_spans_point_at_the_source(embedder: SentenceTransformerEmbedder) -> None:
    lines = [f"Paragraph {i} talks about topic {i} in some detail here." for i in range(40)]
    text = "\n\n".join(lines)
    chunks = Chunker(embedder.counter, 64).chunk(load_document(Path("p.txt"), text.encode()))
    source_lines = text.splitlines()
    for c in chunks:
        assert source_lines[c.start_line - 1] == c.text.splitlines()[0]
        assert source_lines[c.end_line - 1] == c.text.splitlines()[-1]
    assert len(chunks) > 1 and chunks[-1].end_line == len(source_lines)


def test_small_sections_merge_instead_of_standing_alone(embedder: SentenceTransformerEmbedder) -> None:
    text = "# A\n\nshort.\n\n# B\n\nshort too.\n\n# C\n\n" + SENTENCE * 12 + "\n\n# D\n\n" + SENTENCE * 12
    chunks = Chunker(embedder.counter, 192).chunk(load_document(Path("m.md"), text.encode()))
    assert chunks[0].text.startswith("# A") and "# B" in chunks[0].text
    assert any(c.text.startswith("# D") for c in chunks)  # a full section still starts its own chunk


def test_overlap_repeats_the_end_of_a_chunk_at_the_start_of_the_next(embedder: SentenceTransformerEmbedder) -> None:
    sentences = [f"Step {i} of the runbook restarts worker {i} after draining its queue." for i in range(40)]
    doc = load_document(Path("r.txt"), "\n".join(sentences).encode())
    plain = Chunker(embedder.counter, 96).chunk(doc)
    overlapped = Chunker(embedder.counter, 96, overlap_tokens=24).chunk(doc)
    assert len(overlapped) > len(plain)
    for before, after in zip(overlapped, overlapped[1:]):
        first_line = after.text.split("\n")[0]
        assert first_line in before.text  # the boundary sentence is in both chunks
    assert all(c.tokens <= 96 for c in overlapped)
    assert all(s in "\n".join(c.text for c in overlapped) for s in sentences)


def test_code_is_cut_only_between_lines(embedder: SentenceTransformerEmbedder) -> None:
    body = "\n".join(f"    total_{i} = compute_checksum(block_{i}, seed={i}) + offset_{i}" for i in range(80))
    source = f"def checksum_all(blocks):\n{body}\n    return total_0\n"
    doc = load_document(Path("sum.py"), source.encode())
    chunks = Chunker(embedder.counter, 128).chunk(doc)
    assert len(chunks) > 2
    lines = set(source.splitlines())
    for c in chunks:
        assert all(line in lines for line in c.text.split("\n"))  # whole source lines only
        assert c.headings == ("checksum_all",)


def test_a_tiny_last_piece_does_not_stand_alone(embedder: SentenceTransformerEmbedder) -> None:
    text = "# Guide\n\n" + SENTENCE * 7 + "\n\nSee also."  # the last paragraph is 3 tokens
    chunks = Chunker(embedder.counter, 128).chunk(load_document(Path("g.md"), text.encode()))
    assert all(c.tokens >= 128 // 8 for c in chunks)
    assert chunks[-1].text.endswith("See also.")


def test_markdown_link_targets_are_shown_but_not_embedded(embedder: SentenceTransformerEmbedder) -> None:
    text = (
        "# Setup\n\nRead [the install guide](https://example.com/docs/install/index.html){.internal-link} first, "
        "then ![the diagram](img/flow.png).\n\n```js\nhandlers[i](event)\n```\n\n[ref]: https://example.com/ref\n"
    )
    chunks = Chunker(embedder.counter, 192).chunk(load_document(Path("setup.md"), text.encode()))
    [chunk] = chunks
    assert "https://example.com/docs/install/index.html" in chunk.text  # the reader and the LLM see the link
    assert "example.com" not in chunk.embed_text and "the install guide first" in chunk.embed_text
    assert "handlers[i](event)" in chunk.embed_text  # code is embedded as written
    assert chunk.tokens == embedder.counter.count([chunk.embed_text])[0]
