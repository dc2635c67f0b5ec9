"""The retouch simulator: each op stays in its region, grows with strength, warps are invertible."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mofrr_core.retouch import OPS, apply_flow, invert, jacobian_determinant, random_ops, retouch
from mofrr_core.retouch.geometry import FaceFrame, eye_centres
from mofrr_core.retouch.skin import face_polygon, neck_polygon
from mofrr_core.retouch.simulator import API_ORDERS
from mofrr_core.types import RETOUCH_TYPES

from conftest import mean_abs


def _skin_zone(lm, shape, margin_px):
    zone = np.zeros(shape, np.uint8)
    for poly in (face_polygon(lm, 0.7), neck_polygon(lm)):
        cv2.fillPoly(zone, [np.round(poly).astype(np.int32)], 1)
    return cv2.dilate(zone, np.ones((2 * margin_px + 1, 2 * margin_px + 1), np.uint8)) > 0


def _changed(a, b, tol=1 / 255):
    return np.abs(a - b).max(axis=2) > tol


@pytest.mark.parametrize("op", ["whitening", "smoothing"])
def test_skin_ops_change_only_skin(aligned, op):
    for crop, lm in aligned:
        out, _ = retouch(crop, lm, {op: 90}, seed=1)
        changed = _changed(out, crop)
        assert changed.sum() > 500
        assert not (changed & ~_skin_zone(lm, crop.shape[:2], 26)).any()
        eyes = np.zeros(crop.shape[:2], np.uint8)
        for idx in (range(36, 42), range(42, 48)):
            cv2.fillPoly(eyes, [np.round(lm[list(idx)]).astype(np.int32)], 1)
        assert np.abs(out - crop)[eyes > 0].mean() < np.abs(out - crop)[changed].mean() / 3, "eyes stay sharp"


def test_slimming_moves_only_jaw_and_cheeks(aligned):
    for crop, lm in aligned:
        out, record = retouch(crop, lm, {"face_slimming": 90}, seed=2)
        frame = FaceFrame.from_landmarks(lm)
        h, v = frame.coords(*crop.shape[:2])
        changed = _changed(out, crop)
        assert changed.sum() > 300
        assert not changed[(v < 0.09) | (v > 1.55) | (np.abs(h) > 2.0)].any()
        jaw = np.round(lm[3:14]).astype(int)
        shift = np.hypot(*record.flow[jaw[:, 1], jaw[:, 0]].T)
        assert shift.mean() > 1.0


def test_eye_enlargement_changes_only_eye_area(aligned):
    for crop, lm in aligned:
        out, _ = retouch(crop, lm, {"eye_enlargement": 90}, seed=3)
        ys, xs = np.mgrid[0 : crop.shape[0], 0 : crop.shape[1]]
        right, left = eye_centres(lm)
        reach = 0.46 * np.hypot(*(left - right)) + 2
        near = (np.hypot(xs - right[0], ys - right[1]) < reach) | (np.hypot(xs - left[0], ys - left[1]) < reach)
        changed = _changed(out, crop)
        assert changed.sum() > 100 and not (changed & ~near).any()


@pytest.mark.parametrize("op", RETOUCH_TYPES)
def test_change_grows_with_strength(aligned, op):
    for crop, lm in aligned:
        changes = [mean_abs(retouch(crop, lm, {op: s}, seed=4)[0], crop) for s in (0, 30, 60, 90)]
        assert changes[0] == 0 and changes[1] < changes[2] < changes[3], changes


@pytest.mark.parametrize("op", ["face_slimming", "eye_enlargement"])
def test_warps_are_smooth_and_invertible(aligned, op):
    crop, lm = aligned[0]
    for seed in range(12):
        _, record = retouch(crop, lm, {op: 100}, seed=seed)
        det = jacobian_determinant(record.flow)
        assert det.min() > 0.2, (seed, det.min())
        grad = np.abs(np.diff(record.flow, axis=0)).max()
        assert grad < 0.6, "no tearing: neighbouring pixels move alike"
        back = apply_flow(apply_flow(crop, record.flow), invert(record.flow))
        inner = (slice(32, -32), slice(32, -32))
        assert mean_abs(back[inner], crop[inner]) < 2 / 255


def test_same_seed_same_result_other_seed_other_filter(aligned):
    crop, lm = aligned[0]
    ops = {"smoothing": 50, "whitening": 40, "face_slimming": 60, "eye_enlargement": 50}
    a, ra = retouch(crop, lm, ops, seed=7)
    b, rb = retouch(crop, lm, ops, seed=7)
    c, rc = retouch(crop, lm, ops, seed=8)
    assert np.array_equal(a, b) and ra.to_dict() == rb.to_dict()
    assert not np.array_equal(a, c)
    assert [r.params for r in ra.ops] != [r.params for r in rc.ops]


def test_mixed_draws_two_to_four_ops_in_an_api_order():
    rng = np.random.default_rng(0)
    counts = set()
    for _ in range(200):
        ops = random_ops(rng, "mixed")
        names = [name for name, _ in ops]
        counts.add(len(names))
        assert any([n for n in order if n in names] == names for order in API_ORDERS)
        assert all(0 < s <= 100 for _, s in ops)
    assert counts == {2, 3, 4}


def test_record_labels_and_landmarks_follow_warps(aligned):
    crop, lm = aligned[0]
    _, record = retouch(crop, lm, [("eye_enlargement", 70), ("whitening", 25)], seed=1)
    summary = record.to_dict()
    assert summary["strengths"] == {"whitening": 25.0, "smoothing": 0.0, "face_slimming": 0.0, "eye_enlargement": 70.0}
    assert summary["levels"] == {"whitening": 2, "smoothing": 0, "face_slimming": 0, "eye_enlargement": 4}
    assert record.presence() == [1, 0, 0, 1] and summary["flow_max_px"] > 0.5
    eye = lm[36:42].mean(0)
    moved = record.landmarks[36:42].mean(0)
    assert np.hypot(*(moved - eye)) < 1.0, "eye centre stays put"
    spread_before = np.ptp(lm[36:42, 0])
    assert np.ptp(record.landmarks[36:42, 0]) > spread_before * 1.05, "eye corners move outward"


def test_bad_op_names_and_strengths_are_refused(aligned):
    crop, lm = aligned[0]
    with pytest.raises(ValueError, match="unknown retouch type"):
        retouch(crop, lm, {"lipstick": 50})
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        retouch(crop, lm, {"whitening": 150})
    assert set(OPS) == set(RETOUCH_TYPES)
