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
