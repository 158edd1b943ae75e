"""Text in every script: where words are and where sentences end. Imports nothing else from ragkit, so every layer can
use it (ingest, the keyword index, pruning, the eval).

Chinese, Japanese, Thai and a few other scripts write words without spaces
between them, so a tokenizer that splits at spaces sees a whole sentence as
one "word" and keyword search matches almost nothing. Runs of those scripts
are cut into overlapping character bigrams, as Lucene's and Elasticsearch's
CJK analyzer does: no dictionary, every domain's words (names, product
terms) are found, and on CMRC 2018 it retrieves better than a word
segmenter (bench/cjk_keywords.py, README "Every language")."""

from __future__ import annotations

import re
import unicodedata

# Scripts written without spaces between words (Korean has spaces, but its words carry their particles:
# bigrams find the stem either way, as in Lucene's CJK analyzer).
_UNSPACED_RANGES = (
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff\u31f0-\u31ff"  # Katakana (with the prolonged sound mark)
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han: extension A, unified, compatibility
    "\U00020000-\U0003134f"  # Han: extensions B-G
    "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"  # Hangul syllables and jamo
    "\u0e00-\u0e7f\u0e80-\u0eff"  # Thai, Lao
    "\u1000-\u109f\u1780-\u17ff"  # Myanmar, Khmer
)
UNSPACED_CHAR = re.compile(f"[{_UNSPACED_RANGES}]")
_UNSPACED_RUN = re.compile(f"[{_UNSPACED_RANGES}]+")
# What the keyword index takes for one token after `keyword_text` (as SQLite's unicode61 tokenizer does:
# letters, digits and the combining marks of Thai and its neighbours).
_TOKEN = re.compile(r"[\w\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]+")

# Sentence ends of scripts without spaces: 。！？ and their full-width kin need no space after them.
FULL_STOPS = "。！？；…"
CLOSERS = "」』”’）》〉】"
UNSPACED_SENTENCE_END = (
    rf"(?<=[{FULL_STOPS}])(?![{FULL_STOPS}{CLOSERS}])\s*(?=\S)"
    rf"|(?<=[{FULL_STOPS}][{CLOSERS}])(?![{CLOSERS}])\s*(?=\S)"
)
"""A regex alternative that matches where a sentence of Chinese or Japanese ends: after 。！？；… and the
closing quotes that follow, spaces after it included; the next sentence starts at the match's end."""


def has_unspaced(text: str) -> bool:
    """Whether the text holds any character of a script written without spaces."""
    return UNSPACED_CHAR.search(text) is not None


def bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a run without spaces; a lone character stays itself."""
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def keyword_text(text: str) -> str:
    """The text as the keyword index tokenizes it: full-width and compatibility forms folded (NFKC),
    each run of a script without spaces replaced by its bigrams, separated by spaces. Other text is left
    for SQLite's tokenizer; applied twice it changes nothing more."""
    text = unicodedata.normalize("NFKC", text)
    if not has_unspaced(text):
        return text
    return _UNSPACED_RUN.sub(lambda m: _spaced(m, " ".join(bigrams(m.group()))), text)


def _spaced(match: re.Match[str], words: str) -> str:
    """`words` in place of the match, set apart by a space where no space is yet (so that applying it
    again changes nothing)."""
    text = match.string
    before = "" if match.start() == 0 or text[match.start() - 1].isspace() else " "
    after = "" if match.end() == len(text) or text[match.end()].isspace() else " "
    return before + words + after


def keyword_tokens(text: str) -> list[str]:
    """The tokens `keyword_text` leaves for the index, lower-cased, in order (repeats kept)."""
    return [t.lower() for t in _TOKEN.findall(keyword_text(text))]


def spaced_characters(text: str) -> str:
    """Each character of a script without spaces stood apart, for measures that count words
    (CMRC's own evaluation compares Chinese answers character by character)."""
    return _UNSPACED_RUN.sub(lambda m: _spaced(m, " ".join(m.group())), text)


def script_share(text: str) -> float:
    """The share of the text's letters that belong to scripts written without spaces."""
    letters = sum(1 for ch in text if ch.isalpha())
    if not letters:
        return 0.0
    return sum(1 for _ in UNSPACED_CHAR.finditer(text)) / letters


# -- which language a text is in --------------------------------------------------------------------------------

_LETTERS = re.compile(r"[^\W\d_]+")
# py3langid's regional varieties, counted with their language (a Wu or Cantonese page is Chinese to a
# user choosing an embedding model); "zxx": no linguistic content.
_FOLDED = {"wuu": "zh", "yue": "zh", "arz": "ar", "ary": "ar", "nn": "no", "uzs": "uz", "zxx": ""}


def detect_language(text: str, sample_chars: int = 3000) -> str:
    """The main language of a text as an ISO 639-1 code ("en", "zh", "fr"...), or "" when there are too
    few letters to tell. py3langid (langid.py's maintained fork: 97 languages, a small naive Bayes model,
    numpy only) reads a sample from the start and the middle, letters only, so numbers and markup do not
    sway it."""
    if len(text) > sample_chars:
        half = sample_chars // 2
        middle = len(text) // 2
        text = text[:half] + " " + text[middle : middle + half]
    letters = " ".join(_LETTERS.findall(text))
    if len(letters) < 40 and not (has_unspaced(letters) and len(letters) >= 12):
        return ""
    import py3langid

    language, _score = py3langid.classify(letters)
    return _FOLDED.get(str(language), str(language))
