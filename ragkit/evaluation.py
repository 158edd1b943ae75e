"""`ragkit eval`: measure retrieval (and answers) on a dataset with known
answers, through the same ingest and search a user runs.

Retrieval datasets come in BEIR layout (corpus.jsonl, queries.jsonl,
qrels/SPLIT.tsv). Each corpus document becomes a Markdown file (its title
as the heading) in the eval's own folder, ingested incrementally into its
own index, so a second run reuses the index and re-embeds nothing. Chunk
hits are scored per document (a document ranks where its best chunk
does). Query results are appended to a run file as they come, so an
interrupted eval resumes where it stopped.

QA datasets (JSONL, SQuAD JSON, or `{"examples": [{"query",
"reference_answer", "reference_contexts"}]}`) score whether a retrieved
passage holds a gold answer, and with `generate` the answers themselves."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import statistics
import string
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from ragkit.errors import NoMatchError, RagkitError
from ragkit.languages import has_unspaced, spaced_characters

if TYPE_CHECKING:
    from ragkit.kit import Ragkit

log = logging.getLogger(__name__)

RETRIEVAL_MODES = ("dense", "bm25", "hybrid", "hybrid+rerank")
RUN_FORMAT = 2
QA_RUN_FORMAT = 5
"""Raised when what a prompt holds changes under the same settings, so saved QA runs are not reused."""


@dataclass(frozen=True)
class EvalProgress:
    phase: str
    """"ingest", "query" or "answer"."""
    done: int
    total: int
    mode: str = ""


EvalCallback = Callable[[EvalProgress], None]


class DatasetError(RagkitError):
    exit_code = 2


# -- datasets --------------------------------------------------------------------------


@dataclass(frozen=True)
class BeirDataset:
    name: str
    path: Path
    split: str
    queries: dict[str, str]
    """Query id -> text, only queries with judgements in the split, in file order."""
    qrels: dict[str, dict[str, int]]
    """Query id -> {document id: relevance grade}."""

    def corpus(self) -> Iterator[tuple[str, str, str]]:
        """(id, title, text) of every document, streamed."""
        with open(self.path / "corpus.jsonl", encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                    yield str(doc["_id"]), str(doc.get("title") or ""), str(doc.get("text") or "")
                except (ValueError, KeyError) as exc:
                    raise DatasetError(
                        f"{self.path / 'corpus.jsonl'}:{number}: not a BEIR document ({exc.__class__.__name__})",
                        'each line must be JSON with "_id", "title" and "text"',
                    ) from None


def is_beir(path: Path) -> bool:
    return path.is_dir() and (path / "corpus.jsonl").is_file() and (path / "queries.jsonl").is_file()


def load_beir(path: Path, split: str | None = None) -> BeirDataset:
    qrels_dir = path / "qrels"
    splits = sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
    if not splits:
        raise DatasetError(f"{path}: no qrels/*.tsv", "a BEIR dataset needs qrels/test.tsv (or train/dev)")
    if split is None:
        split = "test" if "test" in splits else splits[0]
    if split not in splits:
        raise DatasetError(f"{path}: no split {split!r}", f"use one of: {', '.join(splits)}")
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_dir / f"{split}.tsv", encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) < 3:
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries: dict[str, str] = {}
    with open(path / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                query = json.loads(line)
                if str(query["_id"]) in qrels:
                    queries[str(query["_id"])] = str(query["text"])
    return BeirDataset(path.name, path, split, queries, qrels)


@dataclass(frozen=True)
class QAItem:
    question: str
    answers: tuple[str, ...]
    contexts: tuple[str, ...] = ()


@dataclass(frozen=True)
class QADataset:
    name: str
    path: Path
    items: list[QAItem]
    contexts: list[str]
    """Passages that come with the dataset (SQuAD), indexed when no corpus is given."""


def load_qa(path: Path) -> QADataset:
    items: list[QAItem] = []
    contexts: list[str] = []
    try:
        if path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    items.append(_qa_item(json.loads(line)))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "data" in data:  # SQuAD
                for article in data["data"]:
                    for paragraph in article["paragraphs"]:
                        contexts.append(paragraph["context"])
                        for qa in paragraph["qas"]:
                            answers = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
                            if answers:
                                items.append(QAItem(qa["question"], answers, (paragraph["context"],)))
            else:
                rows = data.get("examples", data) if isinstance(data, dict) else data
                items.extend(_qa_item(row) for row in rows)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"{path}: not a QA dataset ({exc.__class__.__name__}: {str(exc)[:80]})",
            'use JSONL lines {"question", "answers"}, SQuAD JSON, or {"examples": [{"query", "reference_answer"}]}',
        ) from None
    if not items:
        raise DatasetError(f"{path}: no questions with answers", "check the file's format")
    return QADataset(path.stem, path, items, contexts)


def _qa_item(row: dict[str, Any]) -> QAItem:
    question = row.get("question") or row.get("query")
    answers = row.get("answers") or row.get("answer") or row.get("reference_answer")
    if not question or not answers:
        raise KeyError("question/answers")
    if isinstance(answers, str):
        answers = [answers]
    answers = [a["text"] if isinstance(a, dict) else str(a) for a in answers]
    contexts = row.get("contexts") or row.get("reference_contexts") or row.get("context") or []
    if isinstance(contexts, str):
        contexts = [contexts]
    return QAItem(str(question), tuple(answers), tuple(str(c) for c in contexts))


# -- metrics ---------------------------------------------------------------------------


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    """Linear gain, log2 discount: BEIR's (pytrec_eval's) nDCG."""
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], 1))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, 1))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    wanted = {doc for doc, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    for rank, doc in enumerate(ranked[:k], 1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def normalize_answer(text: str) -> str:
    """SQuAD's normalization: lower case, no punctuation, articles or extra spaces; and, as CMRC 2018's
    evaluation does, characters of scripts without spaces (Chinese, Japanese...) each a word of their own
    and their full-width punctuation dropped, so containment and F1 work where words have no spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in string.punctuation and ch not in _WIDE_PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(spaced_characters(text).split())


# CJK punctuation and full-width forms of ASCII punctuation (English text's curly quotes are kept, as SQuAD's
# own normalization keeps them).
_WIDE_PUNCTUATION = frozenset(
    "。，、；：？！…—·《》〈〉「」『』【】〔〕（）＂＃＄％＆＇＊＋，－．／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｡｢｣､･〜"
)


def exact_match(prediction: str, answers: tuple[str, ...]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: tuple[str, ...]) -> float:
    best = 0.0
    predicted = normalize_answer(prediction).split()
    for answer in answers:
        gold = normalize_answer(answer).split()
        common = sum((Counter(predicted) & Counter(gold)).values())
        if common:
            precision, recall = common / len(predicted), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(text: str, item: QAItem) -> bool:
    """A passage (or an answer) holds the gold answer: a reference answer
    appears in it, or most of a gold context's words do (long reference
    answers are sentences, seldom quoted verbatim)."""
    normalized = f" {normalize_answer(text)} "
    if any(f" {normalize_answer(a)} " in normalized for a in item.answers if normalize_answer(a)):
        return True
    return _covers_a_context(normalized, item)


def _covers_a_context(normalized: str, item: QAItem) -> bool:
    """Most (60 %) of the words of one of the item's reference contexts are in the normalized text."""
    words = _coverage_terms(normalized)
    for context in item.contexts:
        gold = _coverage_terms(normalize_answer(context))
        if gold and len(gold & words) / len(gold) >= 0.6:
            return True
    return False


def _coverage_terms(normalized: str) -> set[str]:
    """The words of a normalized text; characters of scripts without spaces as adjacent pairs (most of a
    Chinese paragraph's single characters are in almost any other Chinese text)."""
    tokens = normalized.split()
    terms = {t for t in tokens if not (len(t) == 1 and has_unspaced(t))}
    terms.update(a + b for a, b in zip(tokens, tokens[1:]) if len(a) == len(b) == 1 and has_unspaced(a + b))
    return terms


def answer_in(text: str, item: QAItem) -> bool:
    """The text holds the gold answer, strictly (for what a prompt keeps): a
    reference answer appears in it; only for a free-form reference answer,
    one its reference context does not quote, do most of that context's words
    have to appear instead."""
    normalized = f" {normalize_answer(text)} "
    spans = [normalize_answer(a) for a in item.answers if normalize_answer(a)]
    if any(f" {span} " in normalized for span in spans):
        return True
    quoted = any(f" {span} " in f" {normalize_answer(c)} " for c in item.contexts for span in spans)
    return not quoted and _covers_a_context(normalized, item)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# -- corpus ----------------------------------------------------------------------------


def doc_file_name(doc_id: str) -> str:
    return quote(doc_id, safe="") + ".md"


def doc_id_of(path: str) -> str:
    return unquote(Path(path).name.removesuffix(".md"))


def write_corpus(docs: Iterator[tuple[str, str, str]], folder: Path) -> tuple[int, int]:
    """One Markdown file per document; files already right are left alone,
    so their mtime stays and ingest skips them. Returns (documents, written)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = written = 0
    wanted: set[str] = set()
    for doc_id, title, text in docs:
        count += 1
        name = doc_file_name(doc_id)
        wanted.add(name)
        body = f"# {title.strip()}\n\n{text.strip()}\n" if title.strip() else f"{text.strip()}\n"
        target = folder / name
        if not target.is_file() or target.read_text(encoding="utf-8") != body:
            target.write_text(body, encoding="utf-8")
            written += 1
    for stale in folder.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink()
            written += 1
    return count, written


# -- retrieval eval --------------------------------------------------------------------


@dataclass(frozen=True)
class RetrievalScores:
    """One retriever's scores; a retriever that was not run (`note` says why) has None
    for every metric, so no script mistakes it for a score of 0."""

    mode: str
    ndcg_at_10: float | None
    recall_at_10: float | None
    recall_at_100: float | None
    mrr_at_10: float | None
    p50_ms: float | None
    p95_ms: float | None
    queries: int
    note: str = ""


@dataclass(frozen=True)
class RetrievalEval:
    dataset: str
    split: str
    index: str
    documents: int
    chunks: int
    rows: list[RetrievalScores]
    ingest_seconds: float
    chunks_embedded: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _ModeSpec:
    mode: str
    rerank: bool


def _mode_spec(name: str) -> _ModeSpec:
    if name not in RETRIEVAL_MODES:
        raise DatasetError(f"unknown eval mode {name!r}", f"use some of: {', '.join(RETRIEVAL_MODES)}")
    return _ModeSpec("hybrid" if name == "hybrid+rerank" else name, name == "hybrid+rerank")


def eval_folder(kit: Ragkit) -> Path:
    return kit.settings.data_dir / "eval" / kit.settings.index


def prepare_index(kit: Ragkit, documents: Iterator[tuple[str, str, str]], on_progress: EvalCallback) -> Any:
    """Write the corpus as files and ingest them (incrementally: a second run embeds nothing)."""
    from ragkit.ingest import IngestProgress

    folder = eval_folder(kit) / "docs"
    write_corpus(documents, folder)

    def forward(p: IngestProgress) -> None:
        on_progress(EvalProgress("ingest", p.files_done, p.files_total))

    report = kit.ingest([folder], on_progress=forward)
    if report.files_new or report.files_changed or report.files_removed:
        _clear_runs(kit)
    return report


def evaluate_retrieval(
    kit: Ragkit,
    dataset: BeirDataset,
    *,
    modes: tuple[str, ...] = RETRIEVAL_MODES,
    limit: int | None = None,
    on_progress: EvalCallback | None = None,
) -> RetrievalEval:
    """Ingest the corpus (or reuse its index) and score each retrieval mode on every query."""
    progress = on_progress or (lambda _: None)
    specs = [_mode_spec(m) for m in modes]
    started = time.perf_counter()
    report = prepare_index(kit, dataset.corpus(), progress)
    ingest_seconds = time.perf_counter() - started
    queries = list(dataset.queries.items())[:limit] if limit else list(dataset.queries.items())
    rows = [_score_mode(kit, dataset, queries, spec, progress) for spec in specs]
    return RetrievalEval(
        dataset=dataset.name,
        split=dataset.split,
        index=kit.settings.index,
        documents=report.files_scanned,
        chunks=report.chunks_total,
        rows=rows,
        ingest_seconds=round(ingest_seconds, 2),
        chunks_embedded=report.chunks_embedded,
    )


# Chunks fetched per query: enough for 100 distinct documents in most corpora.
_EVAL_DEPTH = 150


def _embedders(kit: Ragkit) -> str:
    """What embeds documents and questions: torch or an ONNX copy (int8 or fp32)."""
    return "/".join(
        f"{type(e).__name__}:{getattr(e, 'runtime', '')}:{getattr(e, 'onnx_file', Path()).name}"
        for e in (kit.embedder, kit.query_embedder)
    )


def _run_key(kit: Ragkit, spec: _ModeSpec) -> str:
    """Stored results are reused only under the same retrieval settings."""
    s = kit.settings
    options = replace(kit.retriever.options, mode=spec.mode, rerank=spec.rerank)
    reranker = kit.reranker.model_id if spec.rerank and kit.reranker else ""
    embedders = _embedders(kit)
    key = json.dumps(
        [RUN_FORMAT, asdict(options), reranker, kit.embedder.model_id, s.embed_quantize, embedders, _EVAL_DEPTH]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _score_mode(
    kit: Ragkit, dataset: BeirDataset, queries: list[tuple[str, str]], spec: _ModeSpec, progress: EvalCallback
) -> RetrievalScores:
    name = "hybrid+rerank" if spec.rerank else spec.mode
    if spec.rerank and kit.reranker is None:
        return RetrievalScores(
            name,
            None,
            None,
            None,
            None,
            None,
            None,
            0,
            note=f"skipped: reranker {kit.settings.rerank_model} not on disk",
        )
    run_path = eval_folder(kit) / "runs" / f"{name}-{_run_key(kit, spec)}.jsonl"
    done = _read_run(run_path, "qid")
    options = replace(kit.retriever.options, mode=spec.mode, rerank=spec.rerank)
    with open(run_path, "a", encoding="utf-8") as run:
        for number, (qid, text) in enumerate(queries, 1):
            if qid not in done:
                started = time.perf_counter()
                hits = kit.retriever.search(text, _EVAL_DEPTH, options=options)
                ms = (time.perf_counter() - started) * 1000
                docs = list(dict.fromkeys(doc_id_of(str(h.meta.get("path", ""))) for h in hits))
                done[qid] = {"qid": qid, "docs": docs[:100], "ms": round(ms, 2)}
                run.write(json.dumps(done[qid]) + "\n")
                run.flush()
            progress(EvalProgress("query", number, len(queries), name))
    results = [done[qid] for qid, _ in queries]
    relevant = [dataset.qrels[qid] for qid, _ in queries]
    latencies = [r["ms"] for r in results]
    return RetrievalScores(
        mode=name,
        ndcg_at_10=round(statistics.fmean(ndcg_at(r["docs"], q, 10) for r, q in zip(results, relevant)), 4),
        recall_at_10=round(statistics.fmean(recall_at(r["docs"], q, 10) for r, q in zip(results, relevant)), 4),
        recall_at_100=round(statistics.fmean(recall_at(r["docs"], q, 100) for r, q in zip(results, relevant)), 4),
        mrr_at_10=round(statistics.fmean(mrr_at(r["docs"], q, 10) for r, q in zip(results, relevant)), 4),
        p50_ms=round(_percentile(latencies, 0.5), 1),
        p95_ms=round(_percentile(latencies, 0.95), 1),
        queries=len(results),
    )


# -- QA eval ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QAEval:
    dataset: str
    index: str
    questions: int
    k: int
    hit_at_k: float
    """Share of questions with a passage holding the gold answer among the top k."""
    search_p50_ms: float
    generated: bool = False
    exact_match: float | None = None
    token_f1: float | None = None
    containment: float | None = None
    """Share of generated answers that contain a reference answer."""
    citation_precision: float | None = None
    """Share of cited passages that hold the gold answer (over answers that cite)."""
    answers_citing: int | None = None
    answer_p50_s: float | None = None
    tokenizer: str | None = None
    """The model whose tokenizer counted the prompt figures below (None: no model on disk)."""
    context_tokens_mean: float | None = None
    """Tokens of the passages in the prompt `ask` builds, per question."""
    context_tokens_p50: float | None = None
    context_tokens_p95: float | None = None
    prompt_tokens_p50: float | None = None
    passages_mean: float | None = None
    answer_in_context: float | None = None
    """Share of questions whose gold answer is in the prompt's passages."""
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_qa(
    kit: Ragkit,
    dataset: QADataset,
    *,
    corpus: list[Path] | None = None,
    k: int = 5,
    generate: bool = False,
    limit: int | None = None,
    on_progress: EvalCallback | None = None,
) -> QAEval:
    """hit@k of retrieval for each question; with `generate`, the answer's
    exact match, token F1, containment and citation precision."""
    progress = on_progress or (lambda _: None)
    if corpus:
        report = kit.ingest(corpus, on_progress=lambda p: progress(EvalProgress("ingest", p.files_done, p.files_total)))
        if report.files_new or report.files_changed or report.files_removed:
            _clear_runs(kit)
    elif dataset.contexts:
        unique = list(dict.fromkeys(dataset.contexts))
        docs = ((f"context-{n:06d}", "", text) for n, text in enumerate(unique))
        prepare_index(kit, docs, progress)
    else:
        raise DatasetError(f"{dataset.path}: the dataset has no passages", "give the documents with --corpus PATH")
    items = dataset.items[:limit] if limit else dataset.items
    tokenizer = _prompt_model(kit)
    key = json.dumps([QA_RUN_FORMAT, str(dataset.path), k, generate, tokenizer, _prompt_settings(kit)])
    run_path = eval_folder(kit) / "runs" / f"qa-{hashlib.sha256(key.encode()).hexdigest()[:12]}.jsonl"
    done = _read_run(run_path, "n")
    records: list[dict[str, Any]] = []
    with open(run_path, "a", encoding="utf-8") as run:
        for number, item in enumerate(items, 1):
            record = done.get(str(number))
            if record is None or record.get("question") != item.question:
                record = _qa_record(kit, item, k, generate, prompts=tokenizer is not None)
                record.update(n=str(number), question=item.question)
                run.write(json.dumps(record) + "\n")
                run.flush()
            records.append(record)
            progress(EvalProgress("answer" if generate else "query", number, len(items)))
    precisions = [r["citation_precision"] for r in records if r.get("citation_precision") is not None]

    def mean(name: str) -> float | None:
        values = [float(r[name]) for r in records if r.get(name) is not None]
        return round(statistics.fmean(values), 4) if values else None

    n = len(items)
    prompted = [r for r in records if "context_tokens" in r]
    contexts = [float(r["context_tokens"]) for r in prompted]
    return QAEval(
        dataset=dataset.name,
        index=kit.settings.index,
        questions=n,
        k=k,
        hit_at_k=round(sum(bool(r["hit"]) for r in records) / n, 4),
        search_p50_ms=round(_percentile([r["search_ms"] for r in records], 0.5), 1),
        generated=generate,
        exact_match=mean("exact_match"),
        token_f1=mean("token_f1"),
        containment=mean("contains"),
        citation_precision=round(statistics.fmean(precisions), 4) if precisions else None,
        answers_citing=len(precisions) if generate else None,
        answer_p50_s=round(_percentile([r["answer_s"] for r in records if "answer_s" in r], 0.5), 2)
        if generate
        else None,
        tokenizer=tokenizer,
        context_tokens_mean=round(statistics.fmean(contexts), 1) if contexts else None,
        context_tokens_p50=_percentile(contexts, 0.5) if contexts else None,
        context_tokens_p95=_percentile(contexts, 0.95) if contexts else None,
        prompt_tokens_p50=_percentile([float(r["prompt_tokens"]) for r in prompted], 0.5) if prompted else None,
        passages_mean=round(statistics.fmean(r["passages"] for r in prompted), 2) if prompted else None,
        answer_in_context=round(sum(bool(r["in_context"]) for r in prompted) / len(prompted), 4) if prompted else None,
        examples=[{k: v for k, v in r.items() if k not in ("n", "search_ms")} for r in records],
    )


def _prompt_model(kit: Ragkit) -> str | None:
    """The LLM whose tokenizer counts the prompt figures, if it is on disk
    (or can be fetched as `ask` would); only its vocabulary is read."""
    from ragkit.errors import ModelNotFoundError

    try:
        return kit.llm().name
    except ModelNotFoundError as exc:
        log.warning("no prompt figures: %s", exc.message)
        return None


def _prompt_settings(kit: Ragkit) -> dict[str, Any]:
    """Every setting that changes what retrieval finds or what the prompt holds."""
    s = kit.settings
    return {
        "retrieval": asdict(kit.retriever.options),
        "query_embedder": _embedders(kit),
        "embed_model": kit.embedder.model_id,
        "min_score": kit.min_score,
        **{name: getattr(s, name) for name in ("top_k", "ctx", "max_tokens")},
        **{f.name: getattr(s, f.name) for f in fields(s) if f.name.startswith("prune")},
    }


def _qa_record(kit: Ragkit, item: QAItem, k: int, generate: bool, *, prompts: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    record: dict[str, Any] = {}
    sources: list[Any] | None = None
    if prompts:
        try:
            plan = kit.plan_prompt(item.question)
        except NoMatchError:
            plan = None
        given = plan.prompt.sources if plan and plan.prompt else []
        record.update(
            prompt_tokens=plan.prompt.tokens if plan and plan.prompt else 0,
            context_tokens=plan.prompt.context_tokens if plan and plan.prompt else 0,
            passages=len(given),
            in_context=any(answer_in(s.text, item) for s in given),
        )
        if plan is not None and k == kit.settings.top_k:
            sources = plan.candidates  # the same search; neighbours joined
    if sources is None:
        sources = kit.search(item.question, k=k)
    record.update(
        hit=any(contains_answer(s.text, item) for s in sources),
        search_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    if generate:
        started = time.perf_counter()
        answer = kit.ask(item.question)
        cited = answer.cited_sources
        record.update(
            answer=answer.text,
            cited=answer.cited,
            answer_s=round(time.perf_counter() - started, 2),
            exact_match=exact_match(answer.text, item.answers),
            token_f1=token_f1(answer.text, item.answers),
            contains=float(contains_answer(answer.text, replace(item, contexts=()))),
            citation_precision=sum(contains_answer(s.text, item) for s in cited) / len(cited) if cited else None,
        )
    return record


def _clear_runs(kit: Ragkit) -> None:
    """Stored query results belong to the index they were run on."""
    for run in (eval_folder(kit) / "runs").glob("*.jsonl"):
        run.unlink()


def _read_run(path: Path, key: str) -> dict[str, dict[str, Any]]:
    """Results stored by an earlier (maybe interrupted) run, by `key`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                done[str(row[key])] = row
            except (ValueError, KeyError):
                continue  # a line cut short by an interrupted run
    return done
