"""The detection metrics the evaluation reports: ROC AUC and intervals over resampled faces."""

import numpy as np
import pytest
import torch

from mofrr_core.metrics import bootstrap_interval, detection_scores, roc_auc


def test_roc_auc_counts_ordered_pairs_and_half_of_ties():
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.5], [0.3, 0.5], [0.1, 0.2]])
    truth = torch.tensor([[1, 1], [1, 0], [0, 1], [0, 0]])
    area = roc_auc(scores, truth)
    assert area[0] == 1.0  # both present cases above both absent ones
    assert area[1] == pytest.approx((0 + 0 + 0.5 + 1) / 4)  # present 0.1, 0.5 against absent 0.5, 0.2
    assert roc_auc(scores, 1 - truth)[0] == 0.0
    assert torch.isnan(roc_auc(scores, torch.ones_like(truth))).all()


def test_roc_auc_matches_the_mann_whitney_statistic():
    rng = np.random.default_rng(1)
    truth = rng.random(200) < 0.3
    scores = rng.normal(size=200) + truth
    ranks = scores.argsort().argsort() + 1
    u = ranks[truth].sum() - truth.sum() * (truth.sum() + 1) / 2
    expected = u / (truth.sum() * (~truth).sum())
    assert float(roc_auc(torch.from_numpy(scores)[:, None], torch.from_numpy(truth)[:, None])[0]) == pytest.approx(expected)


def f1_interval(found, truth, faces, **kwargs):
    return bootstrap_interval(lambda rows: detection_scores(found[rows], truth[rows])["f1"], faces, **kwargs)


def test_the_f1_interval_holds_the_figure_and_narrows_with_more_faces():
    rng = np.random.default_rng(0)

    def cases(n):
        truth = torch.from_numpy(rng.random((5 * n, 2)) < 0.4)
        found = truth ^ torch.from_numpy(rng.random((5 * n, 2)) < 0.15)
        return found, truth, [i // 5 for i in range(5 * n)]

    few, many = cases(20), cases(400)
    low, high = f1_interval(*few, draws=500)
    f1 = detection_scores(few[0], few[1])["f1"]
    assert (low <= f1).all() and (f1 <= high).all() and (low < high).all()
    wide = (high - low).min()
    low, high = f1_interval(*many, draws=500)
    assert ((high - low) < wide / 2).all()
    assert torch.equal(f1_interval(*few, draws=100, seed=3)[0], f1_interval(*few, draws=100, seed=3)[0])


def test_the_interval_resamples_whole_faces():
    """Each face's cases move together: with one face all hits and one all misses, a quarter of the resamples
    hold only the misses and a quarter only the hits (resampling single cases would almost never)."""
    truth = torch.ones(6, 1, dtype=torch.bool)
    found = torch.tensor([[True]] * 3 + [[False]] * 3)
    recall = lambda rows: detection_scores(found[rows], truth[rows])["recall"]  # noqa: E731
    low, high = bootstrap_interval(recall, ["a"] * 3 + ["b"] * 3, draws=400)
    assert low.item() == 0.0 and high.item() == 1.0
