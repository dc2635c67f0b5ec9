"""Packaging: the repo root is a ComfyUI custom-node folder that imports lightly, and the dependency lists agree."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from conftest import ROOT


def test_root_imports_as_a_custom_node_package_without_comfyui():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('mofrr_pack', r'{ROOT / '__init__.py'}', submodule_search_locations=[r'{ROOT}'])\n"
        "module = importlib.util.module_from_spec(spec); sys.modules['mofrr_pack'] = module; spec.loader.exec_module(module)\n"
        "assert isinstance(module.NODE_CLASS_MAPPINGS, dict) and isinstance(module.NODE_DISPLAY_NAME_MAPPINGS, dict)\n"
        "heavy = [m for m in ('torch', 'dlib', 'diffusers', 'gradio', 'comfy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr


def test_requirements_txt_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = set(project["project"]["dependencies"])
    listed = {line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")}
    assert declared == listed
    assert project["tool"]["comfy"]["PublisherId"] and project["project"]["scripts"]["mofrr"] == "mofrr_core.cli:main"
