"""The base class of every network here: diffusers ModelMixin + ConfigMixin, loaded aligned."""

import itertools

import torch
from diffusers import ConfigMixin, ModelMixin


class Model(ModelMixin, ConfigMixin):
    """A diffusers model whose loaded tensors own fresh memory.

    `from_pretrained` leaves weights as views at arbitrary offsets of the safetensors file;
    CPU kernels pick different code paths for unaligned weights, which changes results in the
    last bit (and is slower). Copying them once makes a reloaded model compute exactly what
    the saved one did.
    """

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        with torch.no_grad():
            for tensor in itertools.chain(model.parameters(), model.buffers()):
                tensor.data = tensor.data.clone()
        return model
