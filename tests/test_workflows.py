"""The example workflows against the nodes' declared inputs and outputs, in both formats.

UI format: `example_workflows/*.json` (ComfyUI's template browser); API format:
`example_workflows/api/*.json` (what `/prompt` takes). Both must describe the same graph, every
link must join an output to an input of the same type, every widget value must be allowed, and
LoadImage must name a photo in `examples/`.
"""

from __future__ import annotations

import json

import pytest

from conftest import EXAMPLES, ROOT
from test_nodes import NODES

FOLDER = ROOT / "example_workflows"
UI_FLOWS = sorted(FOLDER.glob("*.json"))
API_FLOWS = sorted((FOLDER / "api").glob("*.json"))
# the ComfyUI core nodes the examples use: widgets, link inputs, outputs (name, type)
CORE = {
    "LoadImage": {"widgets": {"image": sorted(p.name for p in EXAMPLES.glob("*.jpg"))}, "inputs": {}, "outputs": [("IMAGE", "IMAGE"), ("MASK", "MASK")]},
    "SaveImage": {"widgets": {"filename_prefix": "STRING"}, "inputs": {"images": "IMAGE"}, "outputs": []},
    "PreviewImage": {"widgets": {}, "inputs": {"images": "IMAGE"}, "outputs": []},
}
WIDGET_TYPES = {"INT": int, "FLOAT": (int, float), "STRING": str, "BOOLEAN": bool}


def declared(node_type: str) -> dict:
    """widgets (name -> allowed values or type), link inputs (name -> type), optional names, outputs, output node."""
    if node_type in CORE:
        spec = CORE[node_type]
        return {**spec, "optional": set(), "control": set(), "output_node": node_type != "LoadImage"}
    node = NODES[node_type]
    widgets, inputs, optional, control = {}, {}, set(), set()
    for group, entries in node.INPUT_TYPES().items():
        for name, (kind, options) in entries.items():
            is_widget = isinstance(kind, list) or (kind in WIDGET_TYPES and not options.get("forceInput"))
            if is_widget:
                widgets[name] = kind if isinstance(kind, list) else (kind, options)
            else:
                inputs[name] = kind
            if group == "optional":
                optional.add(name)
            if options.get("control_after_generate"):
                control.add(name)
    outputs = list(zip(node.RETURN_NAMES, node.RETURN_TYPES))
    return {"widgets": widgets, "inputs": inputs, "optional": optional, "control": control, "outputs": outputs, "output_node": node.OUTPUT_NODE}


def check_widget(node_type: str, name: str, value, allowed):
    where = f"{node_type}.{name}={value!r}"
    if isinstance(allowed, list):
        assert value in allowed, f"{where}: not one of {allowed}"
    elif isinstance(allowed, tuple):
        kind, options = allowed
        assert isinstance(value, WIDGET_TYPES[kind]) and not (kind != "BOOLEAN" and isinstance(value, bool)), f"{where}: not a {kind}"
        assert options.get("min", value) <= value <= options.get("max", value), f"{where}: out of range"
    else:
        assert isinstance(value, WIDGET_TYPES[allowed]), where


def api_graph(path) -> dict:
    """{node id: (type, widgets, {input: (source id, slot)})} of an API-format workflow, checked."""
    prompt = json.loads(path.read_text())
    graph = {}
    for node_id, node in prompt.items():
        spec = declared(node["class_type"])
        widgets = {k: v for k, v in node["inputs"].items() if not isinstance(v, list)}
        links = {k: tuple(v) for k, v in node["inputs"].items() if isinstance(v, list)}
        assert set(widgets) == set(spec["widgets"]), f"{path.name} node {node_id}: widgets {sorted(widgets)}"
        for name, value in widgets.items():
            check_widget(node["class_type"], name, value, spec["widgets"][name])
        assert set(links) <= set(spec["inputs"]) and set(spec["inputs"]) - spec["optional"] <= set(links), f"{path.name} node {node_id}: links"
        for name, (source, slot) in links.items():
            outputs = declared(prompt[source]["class_type"])["outputs"]
            assert outputs[slot][1] == spec["inputs"][name], f"{path.name}: {source}:{slot} ({outputs[slot][1]}) -> {node_id}.{name} ({spec['inputs'][name]})"
        graph[node_id] = (node["class_type"], widgets, {k: (str(s), i) for k, (s, i) in links.items()})
    return graph


def ui_graph(path) -> dict:
    """The same description of a UI-format workflow, checked against its own links and the declared types."""
    flow = json.loads(path.read_text())
    links = {link[0]: link for link in flow["links"]}
    graph = {}
    for node in flow["nodes"]:
        spec = declared(node["type"])
        names = [n for n in spec["widgets"] if not (node["type"] == "LoadImage" and n == "upload")]
        values = list(node["widgets_values"])
        widgets = {}
        for name in spec["widgets"]:
            widgets[name] = values.pop(0)
            if name in spec["control"]:
                assert values.pop(0) in ("fixed", "increment", "decrement", "randomize")
        if node["type"] == "LoadImage":
            assert values == ["image"]
        else:
            assert not values, f"{path.name} node {node['id']}: extra widget values {values}"
        widgets = {k: widgets[k] for k in names}
        assert [i["name"] for i in node["inputs"]] == list(spec["inputs"])
        assert [(o["name"], o["type"]) for o in node["outputs"]] == spec["outputs"]
        inputs = {}
        for slot, entry in enumerate(node["inputs"]):
            assert entry["type"] == spec["inputs"][entry["name"]]
            if entry["link"] is not None:
                _, source, source_slot, target, target_slot, kind = links[entry["link"]]
                assert (target, target_slot, kind) == (node["id"], slot, entry["type"])
                inputs[entry["name"]] = (str(source), source_slot)
        for slot, entry in enumerate(node["outputs"]):
            for link_id in entry["links"] or []:
                assert links[link_id][1:3] == [node["id"], slot]
        graph[str(node["id"])] = (node["type"], widgets, inputs)
    return graph


def test_there_is_an_api_workflow_and_a_thumbnail_for_every_ui_workflow():
    assert [p.name for p in UI_FLOWS] == [p.name for p in API_FLOWS]
    assert all(p.with_suffix(".jpg").is_file() for p in UI_FLOWS)
    assert {p.stem for p in UI_FLOWS} == {"mofrr_stages", "mofrr_restore_one_node", "frrffusion_coarse_to_fine", "retouch_restore_report"}


@pytest.mark.parametrize("path", API_FLOWS, ids=lambda p: p.stem)
def test_api_workflow_matches_the_nodes(path):
    graph = api_graph(path)
    assert any(declared(kind)["output_node"] and kind != "LoadImage" for kind, _, _ in graph.values())
    assert any(kind == "LoadImage" for kind, _, _ in graph.values())


@pytest.mark.parametrize("path", UI_FLOWS, ids=lambda p: p.stem)
def test_ui_workflow_is_the_same_graph(path):
    assert ui_graph(path) == api_graph(FOLDER / "api" / path.name)


def test_workflows_use_every_node_of_the_pack_but_the_component_loaders():
    used = {kind for path in API_FLOWS for kind, _, _ in api_graph(path).values()}
    assert set(NODES) - used == {"MofrrLoadMoFRRComponent", "MofrrLoadFRRffusionComponent"}


def test_the_stage_graph_runs_every_expert_once():
    graph = api_graph(FOLDER / "api" / "mofrr_stages.json")
    experts = sorted(widgets["retouch_type"] for kind, widgets, _ in graph.values() if kind == "MofrrWaveFRRExpert")
    assert experts == sorted(NODES["MofrrWaveFRRExpert"].INPUT_TYPES()["required"]["retouch_type"][0])
