"""Use ragkit from Python: index the example documents, search, and ask.

python examples/library_usage.py
"""

from __future__ import annotations

from pathlib import Path

from ragkit import IngestProgress, Ragkit, RagkitError


def main() -> None:
    docs = Path(__file__).parent / "docs"
    kit = Ragkit(index="examples")

    def on_progress(p: IngestProgress) -> None:
        if p.phase == "embed":
            print(f"\r{p.files_done}/{p.files_total} files, {p.chunks_embedded} chunks embedded", end="")

    report = kit.ingest([docs], on_progress=on_progress)
    print(f"\nindexed {report.files_new + report.files_changed} files, {report.chunks_total} chunks in the index")
    for skipped in report.skipped:  # bad files never stop an ingest; each comes back with its reason
        print(f"skipped {skipped.path}: {skipped.reason}")
    status = kit.status()
    print(f"index {status.index!r}: {status.files} files {status.files_by_kind}, {status.size_bytes / 1e6:.1f} MB")

    for hit in kit.search("Who owns Lantern?", k=3):
        found_by = hit.retrieval  # which retriever found it: dense and BM25 ranks, fused score
        ranks = f"dense #{found_by.dense_rank}, bm25 #{found_by.bm25_rank}" if found_by else ""
        print(f"[{hit.number}] {hit.score:.3f} {hit.location()} ({ranks})")
    # Filters: only Markdown files changed in the last year (also path=GLOB, before=DATE).
    recent = kit.search("database backups", k=2, where=["type=md", "after=365d"])
    print(f"{len(recent)} passages from recent Markdown files")

    try:
        stream = kit.ask_stream("When is the database backed up?")
    except RagkitError as exc:  # e.g. no model on disk and offline
        print(f"cannot answer: {exc}")
        return
    if stream.warning:
        print(f"note: {stream.warning}")
    for token in stream:
        print(token, end="", flush=True)
    print()
    assert stream.answer is not None
    for source in stream.answer.sources:
        print(f"[{source.number}] {source.location()}")


if __name__ == "__main__":
    main()
