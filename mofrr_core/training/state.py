"""Resumable training state as safetensors + JSON (model, EMA, optimizer, step), never pickles.

A checkpoint folder holds `model.safetensors`, `ema.safetensors`, `optimizer.safetensors` and
`state.json`; it is written to a temporary folder and renamed, so an interruption never
leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from diffusers.training_utils import EMAModel
from safetensors.torch import load_file, save_file

from ..errors import WeightsError


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in tensors.items()}


def _optimizer_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state split into tensors (by "param.field") and JSON (the rest)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, fields in state["state"].items():
        for name, value in fields.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in [*tensors.items(), *meta["scalars"].items()]:
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_state(folder: Path, model: torch.nn.Module, ema: EMAModel, optimizer: torch.optim.Optimizer, info: dict) -> None:
    """Write a checkpoint of the training state; `info` (step, best score, ...) goes to state.json."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    names = [name for name, _ in model.named_parameters()]
    ema_state = ema.state_dict()
    shadow = dict(zip(names, ema_state.pop("shadow_params"), strict=True))
    optimizer_tensors, optimizer_meta = _optimizer_parts(optimizer)
    save_file(_contiguous(model.state_dict()), tmp / "model.safetensors")
    save_file(_contiguous(shadow), tmp / "ema.safetensors")
    save_file(_contiguous(optimizer_tensors), tmp / "optimizer.safetensors")
    (tmp / "state.json").write_text(json.dumps({"info": info, "ema": ema_state, "optimizer": optimizer_meta}, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def load_state(folder: Path, model: torch.nn.Module, ema: EMAModel, optimizer: torch.optim.Optimizer) -> dict:
    """Restore a checkpoint written by `save_state` into the given objects; returns its `info`."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "state.json").read_text())
        model.load_state_dict(load_file(folder / "model.safetensors"))
        shadow = load_file(folder / "ema.safetensors")
        optimizer.load_state_dict(_optimizer_state(load_file(folder / "optimizer.safetensors"), meta["optimizer"]))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise WeightsError(f"{folder}: cannot resume from this checkpoint ({exc}); delete it to start over") from None
    device = next(model.parameters()).device
    ema.load_state_dict({**meta["ema"], "shadow_params": [shadow[name].to(device) for name, _ in model.named_parameters()]})
    return meta["info"]
