"""The face-layout CNN: OpenCV's Lab, input zero outside the face, a saved net reloads to the same logits,
bfloat16, its members' mean, its training alone and in the router stage."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import torch

from conftest import with_retouched
from test_training import tiny_recipe
from mofrr_core.models import Router
from mofrr_core.models.face_layout_net import FaceLayoutNet
from mofrr_core.models.ops import rgb_to_lab
from mofrr_core.training import Trainer, load_recipe, make_stages
from mofrr_core.training.layout_fit import CONFUSER_WEIGHT, fit_layout_net, sample_weights
from mofrr_core.weights import load_model


def test_rgb_to_lab_matches_opencv():
    rgb = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    rgb[0, :4] = [[0, 0, 0], [1, 1, 1], [0.01, 0.02, 0.03], [1, 0, 0]]
    ours = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)).max() < 0.5  # OpenCV's float conversion goes through lookup tables (errors up to about 0.3)


def test_only_the_face_reaches_the_network(aligned, tmp_path):
    crop, lm = aligned[0]
    net = FaceLayoutNet(template=(lm / crop.shape[0]).ravel().tolist(), width=4).eval()
    assert 0.15 < net.face.float().mean() < 0.7 and net.skin.any()
    image = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
    inside = torch.nn.functional.interpolate(net.face[None, None].float(), size=crop.shape[:2])[0, 0].numpy()
    far = torch.from_numpy(cv2.dilate(inside.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0)
    changed = image.clone()
    changed[:, :, far] = torch.rand(3, int(far.sum()))
    with torch.no_grad():
        assert torch.allclose(net(image), net(changed))
        assert torch.allclose(net.layout(image)[:, :, ~net.face], torch.zeros(()))
        whiter = net(image.clamp(0, 1) * 0.5 + 0.5)
    assert not torch.allclose(net(image), whiter)
    net.save_pretrained(tmp_path / "net")
    again = FaceLayoutNet.from_pretrained(tmp_path / "net").eval()
    assert torch.equal(again.face, net.face) and torch.equal(again.skin, net.skin)
    with torch.no_grad():
        assert torch.equal(again(image), net(image))


class Whitened:
    """Plain then whitened crops as training items, the same in every epoch."""

    def __init__(self, crops):
        half = len(crops) // 2
        self.items = [{"retouched": image, "presence": torch.tensor([float(i >= half), 0.0, 0, 0])} for i, image in enumerate(crops)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, key):
        return self.items[key[1]]


def test_smoothed_faces_without_whitening_weigh_more():
    presence = torch.tensor([[0.0, 1, 0, 0], [1.0, 1, 0, 0], [0.0, 0, 1, 0], [1.0, 0, 0, 0]])
    assert sample_weights(presence, ["whitening"])[:, 0].tolist() == [CONFUSER_WEIGHT, 1, 1, 1]


def test_the_layout_net_learns_its_training_faces_and_measures_its_own_template(aligned):
    crops = with_retouched(aligned, {"whitening": 90})
    torch.manual_seed(0)
    net = FaceLayoutNet(width=4)
    assert not net.face.any()
    losses = fit_layout_net(net, Whitened(crops), len(crops), ["whitening"], epochs=30, batch_size=len(crops), lr=2e-2, progress=False)
    assert 0.1 < net.face.float().mean() < 0.7 and net.skin.any()  # the mean template of dlib's landmarks on the crops
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        logits = net(crops)[:, 0]
    half = len(crops) // 2
    assert logits[half:].min() > logits[:half].max()


def test_the_router_stage_trains_the_layout_net_before_the_rest_and_keeps_it(tmp_path):
    layout = {"model": {"colour_types": ["whitening"], "colour_layout": {"width": 4}}, "layout_fit": 6, "layout_epochs": 2}
    recipe = load_recipe(tiny_recipe(tmp_path, size=128, stages={"router": layout}))
    trainer = Trainer(make_stages(recipe, "router")[0], recipe, progress=False)
    trainer.run()
    trained = load_model(trainer.folder / "best", Router)
    assert trained.config.colour_layout == {"width": 4}
    torch.manual_seed(recipe.seed)
    expected = make_stages(recipe, "router")[0].build().colour_head.layout
    fit_layout_net(expected, trainer._datasets()[0], 6, ["whitening"], 2, seed=recipe.seed, progress=False)
    saved = trained.colour_head.layout.state_dict()
    assert saved["face"].any() and all(torch.equal(v, saved[k]) for k, v in expected.state_dict().items())


def test_bfloat16_reads_as_float32_and_the_members_average(aligned):
    crop, lm = aligned[0]
    torch.manual_seed(0)
    net = FaceLayoutNet(template=(lm / crop.shape[0]).ravel().tolist(), width=4, members=2).eval()
    image = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        full, each = net(image), net.read_each(net.layout(image))
        half = copy.deepcopy(net).to(torch.bfloat16)
        low = half(image)
    assert half.face.dtype == torch.bool and low.dtype == torch.bfloat16
    assert each.shape == (2, 1, 1) and torch.allclose(full, each.mean(0)) and not torch.allclose(each[0], each[1])
    assert (low.float() - full).abs().max() < 0.02 * max(1.0, full.abs().max().item())
