"""API-format ComfyUI workflows bound to a shot by node titles.

A workflow is what ComfyUI's "Export (API)" writes: `{node_id: {"class_type", "inputs":
{name: value | [source_node_id, output_index]}, "_meta": {"title"}}}` (the format `POST
/prompt` takes; server.py). Nodes are found by their *titles*, never their ids, so a creator
keeps any graph and any custom nodes: a title holds one or more `soloreel:` slots, separated
by spaces (`soloreel:width/height/frames` binds three inputs of one node, e.g. WanVaceToVideo).

- `prompt`, `negative` → text (or prompt, positive_prompt, string, value): the shot's prompts;
- `seed` → seed (or noise_seed, value);
- `width`, `height`, `frames`, `fps`, `steps` → width / height / length (or frames,
  num_frames, frame_count) / fps (or frame_rate) / steps: render size, Wan frames (4k+1),
  16 fps, steps;
- `pose_video`, `control_video`, `mask_video` → file (or video): uploaded MP4s (the pose
  skeletons; the inpaint context, characters greyed out; its mask, white = generate);
- `start_image` → image: the i2v keyframe (PNG);
- `reference:<character>` → image: that character's reference image on white (PNG);
- `audio:<character>` → audio (or file, audio_file): that character's lines over the shot
  (WAV, silence between them);
- `lora:<character>` → lora_name (+ strength_model / strength): the character's LoRA file
  name (as ComfyUI lists it in models/loras) and weight;
- `output` → filename_prefix (`soloreel/<shot>`): its saved files are the shot's frames.

`<character>` is a cast member's name, or a number: the shot's n-th character (1 = the first
in the spec), which is how the shipped templates bind references, voices and LoRAs for any
production. A character slot whose character is not in the shot (or, for `lora` /
`reference`, has no LoRA / reference image) is taken out of the graph: a LoRA loader is
bypassed (its consumers take its input model), a loader feeding an *optional* input is
dropped with that input (ComfyUI's `object_info` says which inputs are optional; without it,
inputs are dropped only).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from render_engine.comfyui.client import ComfyError, FileRef

PREFIX = "soloreel:"
SIMPLE_SLOTS: dict[str, tuple[str, ...]] = {
    "prompt": ("text", "prompt", "positive_prompt", "string", "value"),
    "negative": ("text", "prompt", "negative_prompt", "string", "value"),
    "seed": ("seed", "noise_seed", "value"),
    "width": ("width", "value"),
    "height": ("height", "value"),
    "frames": ("length", "frames", "num_frames", "frame_count", "value"),
    "fps": ("fps", "frame_rate", "value"),
    "steps": ("steps", "value"),
}
FILE_SLOTS: dict[str, tuple[str, ...]] = {
    "pose_video": ("file", "video"),
    "control_video": ("file", "video"),
    "mask_video": ("file", "video"),
    "start_image": ("image",),
}
CHARACTER_SLOTS: dict[str, tuple[str, ...]] = {
    "reference": ("image",),
    "audio": ("audio", "file", "audio_file"),
    "lora": ("lora_name", "lora"),
}
LORA_STRENGTH = ("strength_model", "strength")
OUTPUT_INPUTS = ("filename_prefix",)
TEMPLATES = ("wan_t2v.json", "wan_i2v.json", "wan_vace_pose_refs.json", "wan_vace_inpaint.json",
             "wan_multitalk_audio.json")
"""The templates shipped in render_engine/comfyui/workflows (see their README)."""


@dataclass(frozen=True)
class Slot:
    """One `soloreel:` binding in a node title: `kind` (prompt, reference, …) and, for
    character slots, the character's name (lower case)."""

    kind: str
    character: str = ""

    @property
    def name(self) -> str:
        """The slot as written after `soloreel:` (`seed`, `reference:jane`)."""
        return f"{self.kind}:{self.character}" if self.character else self.kind

    def accepted(self) -> tuple[str, ...]:
        """The input names this slot fills, first present wins."""
        return (SIMPLE_SLOTS.get(self.kind) or FILE_SLOTS.get(self.kind)
                or CHARACTER_SLOTS.get(self.kind) or OUTPUT_INPUTS)


@dataclass
class Workflow:
    """A loaded API-format workflow: its bytes (hashed and recorded), graph and slots."""

    path: Path
    data: bytes
    graph: dict[str, Any]
    slots: dict[str, list[Slot]] = field(default_factory=dict)
    """Node id → its title's slots."""
    unknown: list[tuple[str, str]] = field(default_factory=list)
    """(node id, token) of `soloreel:` tokens that name no slot."""

    @property
    def classes(self) -> list[str]:
        """The node classes the graph uses, sorted."""
        return sorted({node["class_type"] for node in self.graph.values()})

    def nodes_of(self, kind: str) -> list[tuple[str, Slot]]:
        """(node id, slot) of every slot of one kind."""
        return [(node, slot) for node, slots in self.slots.items() for slot in slots
                if slot.kind == kind]

    def characters(self, kind: str) -> set[str]:
        """The characters a character slot kind is bound for."""
        return {slot.character for _node, slot in self.nodes_of(kind)}


def parse_title(title: str) -> tuple[list[Slot], list[str]]:
    """The slots of a node title, and its `soloreel:` tokens that name none."""
    slots: list[Slot] = []
    unknown: list[str] = []
    for token in re.split(r"[\s;,]+", title.strip()):
        if not token.lower().startswith(PREFIX):
            continue
        body = token[len(PREFIX):]
        kind, _sep, character = body.partition(":")
        kind = kind.lower()
        if character and kind in CHARACTER_SLOTS:
            slots.append(Slot(kind, character.lower()))
        elif not character and all(p in SIMPLE_SLOTS or p in FILE_SLOTS or p == "output"
                                    for p in kind.split("/")) and kind:
            slots += [Slot(part) for part in kind.split("/")]
        else:
            unknown.append(token)
    return slots, unknown


def template_path(name: str) -> Path:
    """A shipped template's path (package data)."""
    return Path(str(resources.files("render_engine.comfyui") / "workflows" / name))


def resolve_workflow(root: Path, workflow: str) -> Path:
    """`models.NAME.workflow` as a path: relative to the production (or absolute), else the
    name of a shipped template."""
    path = Path(workflow).expanduser()
    if not path.is_absolute():
        path = root / path
    if path.is_file():
        return path
    shipped = template_path(Path(workflow).name)
    if shipped.is_file():
        return shipped
    raise ComfyError(f"workflow {workflow} not found (looked for {path} and a shipped template; "
                     f"templates: {', '.join(TEMPLATES)}); export it from ComfyUI with "
                     "Workflow → Export (API) or fix models.NAME.workflow")


def load_workflow(path: Path) -> Workflow:
    """Read an API-format workflow; a UI-format file (with `nodes`/`links`) or bad JSON is a
    ComfyError saying how to export the right one."""
    data = path.read_bytes()
    try:
        graph = json.loads(data)
    except ValueError as exc:
        raise ComfyError(f"workflow {path} is not JSON ({exc})") from None
    if not isinstance(graph, dict) or ("nodes" in graph and "links" in graph):
        raise ComfyError(f"workflow {path} is ComfyUI's UI format; export it with "
                         "Workflow → Export (API) (the format POST /prompt takes)")
    for node_id, node in graph.items():
        if not isinstance(node, dict) or "class_type" not in node:
            raise ComfyError(f"workflow {path}: node {node_id} has no class_type; is it an "
                             "API-format export (Workflow → Export (API))?")
        node.setdefault("inputs", {})
    flow = Workflow(path, data, graph)
    for node_id, node in graph.items():
        slots, unknown = parse_title((node.get("_meta") or {}).get("title", ""))
        if slots:
            flow.slots[node_id] = slots
        flow.unknown += [(node_id, token) for token in unknown]
    return flow


def is_link(value: Any) -> bool:
    """Whether an input value is a link `[source_node_id, output_index]`."""
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int))


def bindable_input(node: dict[str, Any], slot: Slot, info: dict[str, Any] | None = None
                   ) -> str | None:
    """The input of `node` a slot fills: the first accepted name the node has (in the
    workflow, or in the class's object_info when given)."""
    names = set(node.get("inputs", {}))
    if info is not None:
        spec = info.get("input", {})
        names |= set(spec.get("required", {})) | set(spec.get("optional", {}))
    return next((name for name in slot.accepted() if name in names), None)


@dataclass
class Values:
    """What one job fills in: simple values, uploaded files, LoRAs and the shot's cast."""

    simple: dict[str, Any] = field(default_factory=dict)
    files: dict[str, FileRef] = field(default_factory=dict)
    """Slot name (pose_video, reference:jane, audio:jane…) → the uploaded file."""
    loras: dict[str, tuple[str, float]] = field(default_factory=dict)
    """Character → (LoRA file name as ComfyUI lists it, weight)."""
    characters: set[str] = field(default_factory=set)
    cast: list[str] = field(default_factory=list)
    """The shot's characters in spec order (lower case): numbered slots index it."""
    output_prefix: str = "soloreel/shot"

    def who(self, slot: Slot) -> str | None:
        """The character a character slot means in this shot (None: not in it)."""
        return who(slot, self.cast)

    def has(self, slot: Slot) -> bool:
        """Whether a character slot has something to bind: its character is in the shot
        and has a LoRA (lora slots) or an uploaded reference image (reference slots)."""
        name = self.who(slot)
        if name is None:
            return False
        if slot.kind == "lora":
            return name in self.loras
        if slot.kind == "reference":
            return f"reference:{name}" in self.files
        return True


def who(slot: Slot, cast: list[str]) -> str | None:
    """The character of a character slot for a shot's cast (spec order, lower case): a name
    when it is in the cast, the n-th member for a number; None when absent."""
    if slot.character.isdigit():
        index = int(slot.character) - 1
        return cast[index] if 0 <= index < len(cast) else None
    return slot.character if slot.character in cast else None


@dataclass
class Bound:
    """A filled graph and what went into it."""

    graph: dict[str, Any]
    filled: dict[str, Any] = field(default_factory=dict)
    """`node_id.input` → value, for the manifest."""
    removed: list[str] = field(default_factory=list)
    """Node ids taken out (characters not in the shot)."""
    output_nodes: list[str] = field(default_factory=list)


def _consumers(graph: dict[str, Any], node_id: str) -> list[tuple[str, str, int]]:
    return [(other, name, value[1]) for other, node in graph.items()
            for name, value in node.get("inputs", {}).items()
            if is_link(value) and value[0] == node_id]


def remove_node(graph: dict[str, Any], node_id: str, object_info: dict[str, Any] | None,
                removed: list[str]) -> None:
    """Take a node out: consumers of output k take the node's k-th linked input when its
    class passes one through (LoRA loaders); otherwise the consuming input is dropped, and a
    consumer whose dropped input is required (object_info) is removed in turn."""
    node = graph.pop(node_id, None)
    if node is None:
        return
    removed.append(node_id)
    links = [value for value in node.get("inputs", {}).values() if is_link(value)]
    passthrough = node["class_type"].startswith("Lora") or "lora" in node["class_type"].lower()
    for other, name, index in _consumers(graph, node_id):
        if passthrough and index < len(links):
            graph[other]["inputs"][name] = list(links[index])
            continue
        del graph[other]["inputs"][name]
        info = (object_info or {}).get(graph[other]["class_type"])
        if info is not None and name in info.get("input", {}).get("required", {}):
            remove_node(graph, other, object_info, removed)


def bind(flow: Workflow, values: Values, object_info: dict[str, Any] | None = None) -> Bound:
    """Fill a workflow for one job. Character slots of characters not in the shot are removed
    (`remove_node`); a slot the job has no value for keeps the workflow's own value; a slot
    whose node has no input it can fill is a ComfyError naming the node."""
    graph = copy.deepcopy(flow.graph)
    bound = Bound(graph)
    absent = [node_id for node_id, slots in flow.slots.items()
              if any(s.character and not values.has(s) for s in slots)]
    for node_id in absent:
        remove_node(graph, node_id, object_info, bound.removed)
    for node_id, slots in flow.slots.items():
        if node_id not in graph:
            continue
        node = graph[node_id]
        for slot in slots:
            target = bindable_input(node, slot, (object_info or {}).get(node["class_type"]))
            if slot.kind == "output":
                bound.output_nodes.append(node_id)
                if target:
                    node["inputs"][target] = values.output_prefix
                continue
            if target is None:
                raise ComfyError(
                    f"workflow {flow.path.name}: node {node_id} ({node['class_type']}) is titled "
                    f"soloreel:{slot.name} but has none of the inputs {', '.join(slot.accepted())};"
                    " move the title to the node that takes it")
            value: Any = None
            if slot.kind in SIMPLE_SLOTS:
                value = values.simple.get(slot.kind)
            elif slot.kind == "lora":
                lora = values.loras.get(values.who(slot) or "")
                if lora is not None:
                    value = lora[0]
                    strength = next((s for s in LORA_STRENGTH if s in node["inputs"]), None)
                    if strength:
                        node["inputs"][strength] = lora[1]
                        bound.filled[f"{node_id}.{strength}"] = lora[1]
            elif slot.character:
                ref = values.files.get(f"{slot.kind}:{values.who(slot)}")
                value = ref.annotated if ref is not None else None
            else:
                ref = values.files.get(slot.name)
                value = ref.annotated if ref is not None else None
            if value is not None:
                node["inputs"][target] = value
                bound.filled[f"{node_id}.{target}"] = value
    if not bound.output_nodes:
        raise ComfyError(f"workflow {flow.path.name} has no node titled soloreel:output; title "
                         "the node that saves the video (SaveVideo, SaveAnimatedWEBP, …)")
    return bound
