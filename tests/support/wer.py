"""Word error rate: (substitutions + deletions + insertions) / reference words."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path


def normalise(text: str) -> list[str]:
    """Lower case, punctuation dropped (apostrophes kept), split on white space."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalise(reference), normalise(hypothesis)
    return edit_distance(ref, hyp) / max(1, len(ref))


def corpus_wer(pairs: Sequence[tuple[str, str]]) -> float:
    """WER over several (reference, hypothesis) pairs, weighted by reference length."""
    errors = sum(edit_distance(normalise(r), normalise(h)) for r, h in pairs)
    return errors / max(1, sum(len(normalise(r)) for r, _ in pairs))


def read_references(tsv: Path) -> dict[str, str]:
    with tsv.open(newline="", encoding="utf-8") as handle:
        return {row[0]: row[1] for row in csv.reader(handle, delimiter="\t") if row}
