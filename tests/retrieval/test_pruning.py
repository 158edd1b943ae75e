"""Passage pruning: the prompt keeps the sentences that answer, with the real
embedder, and citations point at what was kept."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ragkit import Ragkit
from ragkit.answers import Source
from ragkit.embedders import SentenceTransformerEmbedder
from ragkit.retrieval.pruning import ELISION, PruneOptions, SentencePruner, split_units
from tests.conftest import write_docs

HANDBOOK = """# Field handbook

## Water

The camp sits beside a slow river. Herons nest on the far bank in spring. Otters were seen twice last year.
Drinking water must be boiled for three minutes before use.
The kitchen tent is green. Volunteers rotate kitchen duty every Sunday. Firewood is stacked behind the storage shed.

## Radios

Radios are charged overnight in the office.
"""


def source(text: str, kind: str = "markdown", start_line: int | None = 1) -> Source:
    return Source(1, "/notes/handbook.md", start_line, None, 0.5, text, kind=kind)


def unit_texts(text: str, kind: str = "markdown") -> list[str]:
    return [text[u.start : u.end] for u in split_units(text, kind)]


def test_units_are_sentences_rows_and_whole_code_blocks() -> None:
    text = (
        "# Setup\n\nRun the installer. Then reboot! Is it done? Yes.\n"
        "| host | port |\n| db | 5432 |\n"
        "```sh\nmake install\n\nmake test\n```\nDone."
    )
    assert unit_texts(text) == [
        "# Setup", "Run the installer.", "Then reboot!", "Is it done?", "Yes.",
        "| host | port |", "| db | 5432 |", "```sh\nmake install\n\nmake test\n```", "Done.",
    ]  # fmt: skip
    wrapped = (
        "API keys are rotated every 45 days. To rotate a key, run\n`lanternctl keys rotate`\nfrom a bastion.\n"
        "- a list item\n  wrapped. Two.\n- next"
    )
    assert unit_texts(wrapped) == [  # a hard-wrapped sentence is one unit; list items stay apart
        "API keys are rotated every 45 days.", "To rotate a key, run\n`lanternctl keys rotate`\nfrom a bastion.",
        "- a list item\n  wrapped.", "Two.", "- next",
    ]  # fmt: skip
    code = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    assert unit_texts(code, "code") == ["def a():\n    return 1", "def b():\n    return 2"]


def test_pruned_passage_keeps_the_answer_and_points_at_its_lines(embedder: SentenceTransformerEmbedder) -> None:
    pruner = SentencePruner(embedder, PruneOptions(keep_whole=0))
    [kept] = pruner.prune("How long must drinking water be boiled?", [source(HANDBOOK)])
    assert "Drinking water must be boiled for three minutes before use." in kept.text
    assert "Herons" not in kept.text and "Firewood" not in kept.text
    assert ELISION in kept.text
    assert "## Water" in kept.text and "# Field handbook" in kept.text  # the heading path stays
    assert "## Radios" not in kept.text  # a section with nothing kept leaves no heading behind
    lines = HANDBOOK.split("\n")
    kept_lines = lines[kept.start_line - 1 : kept.end_line]  # type: ignore[operator]
    assert any("Drinking water must be boiled" in line for line in kept_lines)
    assert len(kept_lines) < len(lines) - 1


def test_passages_far_below_the_best_are_dropped(embedder: SentenceTransformerEmbedder) -> None:
    pruner = SentencePruner(embedder, PruneOptions(keep_whole=0))
    relevant = source("Drinking water must be boiled for three minutes before use.")
    unrelated = Source(2, "/notes/cars.md", 1, 1, 0.4, "The van's tyres are rotated every 10,000 km.", kind="markdown")
    kept = pruner.prune("How long must drinking water be boiled?", [unrelated, relevant])
    assert [k.path for k in kept] == ["/notes/handbook.md"]
    assert kept[0].number == 1


def test_the_best_ranked_passage_is_given_whole_and_the_rest_cut(embedder: SentenceTransformerEmbedder) -> None:
    question = "How long must drinking water be boiled?"
    camp = Source(2, "/notes/camp.md", 1, 1, 0.4, HANDBOOK.replace("Drinking", "Lake"), kind="markdown")
    first, second = SentencePruner(embedder, PruneOptions()).prune(question, [source(HANDBOOK), camp])
    assert first.text == HANDBOOK and ELISION not in first.text  # retrieval's first choice, uncut
    assert ELISION in second.text and "Herons" not in second.text
    # Kept even when its sentences score far below another passage's: sentence scores are the less sure signal.
    unrelated = Source(1, "/notes/cars.md", 1, 1, 0.4, "The van's tyres are rotated every 10,000 km.", kind="markdown")
    kept = SentencePruner(embedder, PruneOptions()).prune(question, [unrelated, replace(source(HANDBOOK), number=2)])
    assert [k.path for k in kept] == ["/notes/cars.md", "/notes/handbook.md"]


def test_of_neighbouring_chunks_joined_only_the_best_ranked_chunk_is_given_whole(
    embedder: SentenceTransformerEmbedder,
) -> None:
    """One long document's top chunks are often neighbours, joined into one passage: pruning must still cut it."""
    intro = "The camp sits beside a slow river. Herons nest on the far bank in spring. Otters were seen twice."
    water = "Drinking water must be boiled for three minutes before use. The kettle is in the kitchen tent."
    joined = Source(1, "/notes/handbook.md", 1, 2, 0.5, intro + "\n" + water, kind="markdown")
    best_chunk = replace(joined, text=water)  # retrieval's first result, before neighbours were joined
    [kept] = SentencePruner(embedder, PruneOptions()).prune("How long must water be boiled?", [joined], [best_chunk])
    assert water in kept.text and "The kettle is in the kitchen tent." in kept.text  # that chunk whole
    assert "Herons" not in kept.text and ELISION in kept.text  # two sentences before the answer: cut


def test_turned_off_the_passages_are_given_whole(embedder: SentenceTransformerEmbedder) -> None:
    passages = [source(HANDBOOK)]
    assert SentencePruner(embedder, PruneOptions(enabled=False)).prune("water?", passages) == passages


def test_ask_prompt_holds_only_what_bears_on_the_question(
    make_kit: Callable[..., Ragkit], tmp_path: Path, tiny_phi3: Path
) -> None:
    docs = write_docs(tmp_path / "docs", {"handbook.md": HANDBOOK})
    kit = make_kit(model=str(tiny_phi3), prune_keep_whole=0)  # the one passage is the best-ranked: cut it too
    kit.ingest([docs])
    plan = kit.plan_prompt("How long must drinking water be boiled before use?")
    assert plan.prompt is not None
    assert "three minutes" in plan.prompt.text
    assert "Herons" not in plan.prompt.text
    whole = Ragkit(settings=kit.settings.replace(prune=False), embedder=kit.embedder).plan_prompt(
        "How long must drinking water be boiled before use?"
    )
    assert whole.prompt is not None and "Herons" in whole.prompt.text
    assert plan.prompt.context_tokens < whole.prompt.context_tokens


def test_show_context_prints_the_pruned_prompt_and_no_prune_the_whole(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path, tiny_phi3: Path
) -> None:
    docs = write_docs(tmp_path / "docs", {"handbook.md": HANDBOOK})
    assert cli("ingest", str(docs)).returncode == 0
    question = ["ask", "How long must drinking water be boiled?", "--model", str(tiny_phi3), "--max-tokens", "4"]
    pruned = cli(*question, "--show-context", env={"RAGKIT_PRUNE_KEEP_WHOLE": "0"})  # cut the one passage too
    assert pruned.returncode == 0, pruned.stderr
    context = pruned.stdout.split("what the model saw", 1)[1]
    assert "boiled for three minutes" in context and ELISION in context
    assert "Herons" not in context
    assert 'source="handbook.md:' in context  # the location, short: relative to the passages' folder
    whole = cli(*question, "--show-context", "--no-prune")
    assert whole.returncode == 0, whole.stderr
    assert "Herons" in whole.stdout.split("what the model saw", 1)[1]
