"""Pairwise linkage precision and recall, by hand and against the simulator's truth."""

from __future__ import annotations

import itertools
import random

import pytest

from streams.cli.quality import pairwise_linkage, score_scenario
from streams.settings import Settings

TRUTH = ["x", "x", "y", "z", "z", "z"]  # 1 + 0 + 3 = 4 true pairs


def _brute(predicted: list[object], truth: list[object]) -> tuple[float, float]:
    pairs = list(itertools.combinations(range(len(truth)), 2))
    pred = {p for p in pairs if predicted[p[0]] == predicted[p[1]]}
    true = {p for p in pairs if truth[p[0]] == truth[p[1]]}
    both = len(pred & true)
    return (both / len(pred) if pred else 1.0, both / len(true) if true else 1.0)


def test_perfect_clustering_scores_one() -> None:
    assert pairwise_linkage([7, 7, 8, 9, 9, 9], TRUTH) == (1.0, 1.0)


def test_one_wrong_merge_lowers_precision_only() -> None:
    # incidents y and z merged into one case: 1 + 6 predicted pairs, 4 of them true
    precision, recall = pairwise_linkage(["a", "a", "b", "b", "b", "b"], TRUTH)
    assert precision == pytest.approx(4 / 7)
    assert recall == 1.0


def test_one_split_lowers_recall_only() -> None:
    # incident z split into two cases: 2 predicted pairs, both true, 2 of 4 true pairs found
    precision, recall = pairwise_linkage(["a", "a", "b", "c", "c", "d"], TRUTH)
    assert precision == 1.0
    assert recall == pytest.approx(2 / 4)


def test_no_pairs_and_length_mismatch() -> None:
    assert pairwise_linkage([1, 2, 3], ["a", "b", "c"]) == (1.0, 1.0)
    assert pairwise_linkage([], []) == (1.0, 1.0)
    with pytest.raises(ValueError, match="length"):
        pairwise_linkage([1, 2], ["a"])


def test_counting_matches_pair_by_pair() -> None:
    rng = random.Random(5)
    for _ in range(30):
        n = rng.randint(2, 25)
        predicted = [rng.randint(0, 5) for _ in range(n)]
        truth = [rng.randint(0, 5) for _ in range(n)]
        got = pairwise_linkage(predicted, truth)
        assert got == pytest.approx(_brute(predicted, truth))


def test_score_of_a_small_scenario(settings: Settings) -> None:
    score = score_scenario(settings, "ordinary", seed=3, scale=0.02)
    assert score.reports > 100
    assert 0 < score.cases < score.reports
    assert score.precision >= 0.95 and score.recall >= 0.95
    assert "precision=" in score.line()
