"""The final tier's machinery: Wan 2.1 through diffusers, on one GPU (or the CPU in tests).

One module per concern: `registry` (named models → loaded pipelines, memory profiles),
`latents` (frame counts, sizes, seeded initial noise), `conditioning` (what a final reads
beyond its spec — the proxy render, control video, references, segmenting — as content-hash
inputs), `weights` (the model's hub commit or folder bytes, for the same hash), `inputs`
(prompts, control videos with DWPose faces, masks, reference images, keyframes, animate's face
crops), `modes` (one function per render mode, LoRAs),
`retime` (16 fps → the timeline's rate, segments and colour matching), `layers` (vace_layers:
one keyed VACE render per character), `quality` (full finals, step-distilled drafts and
one-frame keyframes), `keyframes` (approved keyframes: the store, approve / retake, the
final's anchor), `cost` (GPU-minute estimates), `adapters` (which LoRAs stay loaded) and
`batch` (the render order: each model loads once, LoRAs as rarely as possible). Only
`registry`, `modes` and `latents.initial_latents` import torch, lazily, so dry runs work
without the ml extra.
"""
