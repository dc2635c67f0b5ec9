"""A stand-in for ComfyUI's V3 `io` module where `comfy_api` is missing (older ComfyUI, pytest).

It offers the few `io` names the pack uses, with the same signatures, and turns every
`ComfyNode` subclass into a classic node (`INPUT_TYPES`, `RETURN_TYPES`, `FUNCTION`, ...), so
the nodes are written once against the V3 API and run on either.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class Input:
    """One node input: `id`, its link or widget type and its widget settings (`default`, `min`, ...)."""

    io_type = "*"

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False, tooltip: str | None = None, **widget):
        self.id, self.display_name, self.optional, self.tooltip = id, display_name, optional, tooltip
        self.widget = {k: v for k, v in widget.items() if v is not None}
        self.default = self.widget.get("default")
        for name in ("min", "max", "step", "multiline", "force_input"):
            setattr(self, name, self.widget.get(name))

    def as_classic(self) -> tuple:
        extra = {k: v for k, v in (("tooltip", self.tooltip), ("display_name", self.display_name)) if v is not None}
        names = {"force_input": "forceInput"}
        return (self.io_type, {**{names.get(k, k): v for k, v in self.widget.items()}, **extra})


class Output:
    """One node output."""

    io_type = "*"

    def __init__(self, id: str | None = None, display_name: str | None = None, tooltip: str | None = None):
        self.id, self.display_name, self.tooltip = id, display_name, tooltip


def _comfy_type(name: str, input_class: type = Input) -> type:
    """A type holder with `Input` and `Output` classes of link/widget type `name` (like V3's `comfytype`)."""
    return type(name, (), {"io_type": name, "Input": type("Input", (input_class,), {"io_type": name}), "Output": type("Output", (Output,), {"io_type": name})})


def Custom(io_type: str) -> type:
    """A custom link type, as V3's `io.Custom`."""
    return _comfy_type(io_type)


class _ComboInput(Input):
    def __init__(self, id: str, options: list | None = None, display_name: str | None = None, optional: bool = False, tooltip: str | None = None, **widget):
        super().__init__(id, display_name, optional, tooltip, **widget)
        self.options = list(options or [])

    def as_classic(self) -> tuple:
        return (self.options, super().as_classic()[1])


Image = _comfy_type("IMAGE")
Int = _comfy_type("INT")
Float = _comfy_type("FLOAT")
String = _comfy_type("STRING")
Boolean = _comfy_type("BOOLEAN")
Combo = _comfy_type("COMBO", _ComboInput)


@dataclass
class Schema:
    """What a node is: the fields of V3's `io.Schema` that the pack uses."""

    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    description: str = ""
    is_output_node: bool = False


class NodeOutput:
    """A node's results (`args`) and its UI payload (`ui`), as V3's `io.NodeOutput`."""

    def __init__(self, *args, ui: dict | None = None):
        self.args, self.ui = args, ui


class ComfyNode:
    """Base of the pack's nodes: subclasses define `define_schema()` and `execute(**inputs)`."""

    FUNCTION = "run"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        schema = cls.define_schema()
        cls.RETURN_TYPES = tuple(o.io_type for o in schema.outputs)
        cls.RETURN_NAMES = tuple(o.display_name or o.io_type for o in schema.outputs)
        cls.CATEGORY, cls.DESCRIPTION, cls.OUTPUT_NODE = schema.category, schema.description, schema.is_output_node

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **inputs) -> NodeOutput:
        raise NotImplementedError

    @classmethod
    def GET_SCHEMA(cls) -> Schema:
        return cls.define_schema()

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        types: dict = {"required": {}, "optional": {}}
        for i in cls.define_schema().inputs:
            types["optional" if i.optional else "required"][i.id] = i.as_classic()
        return types

    def run(self, **inputs):
        out = self.execute(**inputs)
        return {"ui": out.ui, "result": out.args} if out.ui else out.args
