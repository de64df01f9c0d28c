"""Check a workflow against a server's `/object_info` before anything is queued.

The top complaint of ComfyUI users is a workflow that fails an hour in because a custom node
or a model file is missing. `check_workflow` reads the server's node definitions (`GET
/object_info`: per class `input.required` / `input.optional`, each input `[type, options]`,
where a COMBO is a list of choices — `[["a.safetensors", …], {…}]`, or `["COMBO",
{"options": […]}]` in the newer schema of comfy_api) and reports, per workflow:

- node classes the server does not have (a custom node pack not installed);
- model files the workflow names that are not in the loader's choices (the server's
  models/ folders: `unet_name`, `clip_name`, `vae_name`, `lora_name`, …), and LoRAs of the
  production's characters the server does not list;
- inputs the class does not take (a node pack of another version);
- `soloreel:` titles that bind nothing, and the slots a render needs that are missing.

`node_versions` is the part of `/object_info` a render depends on (the classes used, their
module, inputs and outputs, choice lists left out so a newly downloaded model does not make
every final stale); its digest is in the final's cache key and manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from render_engine.comfyui.workflow import (
    CHARACTER_SLOTS,
    FILE_SLOTS,
    Workflow,
    bindable_input,
    is_link,
)

UPLOADED_INPUTS = {"image", "file", "video", "audio", "audio_file"}
"""Loader inputs whose choices are the server's input folder (filled by uploads per job)."""


@dataclass
class CheckReport:
    """What is wrong with one workflow on one server; `ok` when nothing is."""

    workflow: str
    server: str
    missing_classes: list[str] = field(default_factory=list)
    missing_models: list[str] = field(default_factory=list)
    bad_inputs: list[str] = field(default_factory=list)
    unbound: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What stopped the check itself (no workflow file, no server)."""

    @property
    def ok(self) -> bool:
        """Nothing would stop a render (warnings do not)."""
        return not (self.missing_classes or self.missing_models or self.bad_inputs
                    or self.unbound or self.problems)

    def lines(self) -> list[str]:
        """One line per finding, each saying what to do."""
        out = list(self.problems)
        out += [f"missing node class {c}: install the custom node pack that provides it "
               "(ComfyUI-Manager → Install Missing Custom Nodes), then restart ComfyUI"
               for c in self.missing_classes]
        out += [f"missing model file: {m}" for m in self.missing_models]
        out += [f"unknown input: {b}" for b in self.bad_inputs]
        out += [f"unbound title: {u}" for u in self.unbound]
        out += [f"warning: {w}" for w in self.warnings]
        return out


def combo_options(spec: Any) -> list[Any] | None:
    """The choices of a COMBO input spec (old list form or the newer `"COMBO"` form)."""
    if not isinstance(spec, list | tuple) or not spec:
        return None
    if isinstance(spec[0], list):
        return list(spec[0])
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return list(spec[1].get("options", []))
    return None


def class_inputs(info: dict[str, Any]) -> dict[str, Any]:
    """A class's inputs, required and optional, by name."""
    spec = info.get("input", {})
    return {**spec.get("required", {}), **spec.get("optional", {})}


def check_workflow(flow: Workflow, object_info: dict[str, Any], server: str = "",
                   loras: dict[str, tuple[str, str]] | None = None) -> CheckReport:
    """Check `flow` against a server's object_info. `loras` maps what a
    `soloreel:lora:<character>` slot names (a character, or a number for a shot's n-th) to
    (the character, the LoRA file its node will load)."""
    report = CheckReport(flow.path.name, server)
    bound_inputs = set()
    for node_id, slots in flow.slots.items():
        node = flow.graph[node_id]
        info = object_info.get(node["class_type"])
        for slot in slots:
            target = bindable_input(node, slot, info)
            if target is None and slot.kind != "output":
                report.unbound.append(
                    f"node {node_id} ({node['class_type']}) soloreel:{slot.name}: the node has "
                    f"none of the inputs {', '.join(slot.accepted())}")
            bound_inputs.add((node_id, target))
    report.unbound += [f"node {n} ({flow.graph[n]['class_type']}) {token}: no such slot (see "
                       "the README's table of soloreel: titles)" for n, token in flow.unknown]
    if not flow.nodes_of("output"):
        report.unbound.append("no node titled soloreel:output (the node saving the video)")
    if not flow.nodes_of("prompt"):
        report.warnings.append("no node titled soloreel:prompt: every shot gets the "
                               "workflow's own prompt")
    for node_id, node in sorted(flow.graph.items()):
        cls = node["class_type"]
        info = object_info.get(cls)
        if info is None:
            if cls not in report.missing_classes:
                report.missing_classes.append(cls)
            continue
        inputs = class_inputs(info)
        for name, value in node.get("inputs", {}).items():
            if name not in inputs:
                report.bad_inputs.append(f"node {node_id} ({cls}) has no input {name!r}")
                continue
            if is_link(value) or (node_id, name) in bound_inputs or name in UPLOADED_INPUTS:
                continue
            options = combo_options(inputs[name])
            if options is not None and value not in options:
                what = "missing model file" if name.endswith(("_name", "ckpt")) else "value"
                text = (f"node {node_id} ({cls}) {name} = {value!r} is not on the server"
                        + (f" ({len(options)} choices)" if options else " (none installed)"))
                if what == "value":
                    report.bad_inputs.append(text)
                else:
                    report.missing_models.append(text + "; put the file in ComfyUI's models "
                                                 "folder or pick one it lists")
    for node_id, slot in flow.nodes_of("lora"):
        character, wanted = (loras or {}).get(slot.character, ("", ""))
        node = flow.graph[node_id]
        options = combo_options(class_inputs(object_info.get(node["class_type"], {}))
                                .get(bindable_input(node, slot) or "", None))
        if wanted and options is not None and wanted not in options:
            report.missing_models.append(
                f"node {node_id} soloreel:lora:{slot.character}: {character}'s {wanted} is "
                f"not in ComfyUI's loras (soloreel cast export {character} --format comfyui "
                f"-o ComfyUI/models/loras/{wanted})")
    return report


def shot_warnings(flow: Workflow, characters: list[str], mode_slots: set[str]) -> list[str]:
    """What a shot asks that the workflow cannot take: characters with no reference / audio
    node while the workflow binds others that way, and conditioning the mode makes (pose
    video…) that no node takes."""
    out = []
    for kind in CHARACTER_SLOTS:
        bound = flow.characters(kind)
        if bound and kind != "lora":
            out += [f"{name} has no soloreel:{kind}:{name} (or :{index}) node"
                    for index, name in enumerate(characters, 1)
                    if name not in bound and str(index) not in bound]
    out += [f"no node titled soloreel:{slot} (the shot's {slot.replace('_', ' ')} is not used)"
            for slot in sorted(mode_slots) if slot in FILE_SLOTS and not flow.nodes_of(slot)]
    return out


def node_versions(object_info: dict[str, Any], classes: list[str]) -> dict[str, Any]:
    """The definitions of `classes` a render depends on: module, input names and types
    (choice lists left out) and outputs; classes the server lacks map to None."""
    out: dict[str, Any] = {}
    for cls in sorted(classes):
        info = object_info.get(cls)
        if info is None:
            out[cls] = None
            continue
        inputs = {}
        for group in ("required", "optional"):
            for name, spec in info.get("input", {}).get(group, {}).items():
                kind = "COMBO" if combo_options(spec) is not None else (
                    spec[0] if isinstance(spec, list | tuple) and spec else spec)
                inputs[name] = [group, kind]
        out[cls] = {"python_module": info.get("python_module"), "inputs": inputs,
                    "output": info.get("output"), "output_name": info.get("output_name")}
    return out


def versions_digest(versions: dict[str, Any]) -> str:
    """sha256 of `node_versions` (canonical JSON)."""
    return hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()
