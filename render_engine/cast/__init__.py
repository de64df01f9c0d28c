"""Characters that stay themselves: workspaces, candidates, picks, datasets, LoRAs, extras.

A lead's workspace is `cast/NAME/` beside `cast/NAME.toml`:

- `source/`: the image(s) the character was started from;
- `candidates/`: generated or imported images `c001.png` … each with `c001.json` provenance;
- `picks/`: flag files (`c003`, or a copy of `c003.png`) marking the candidates picked;
- `dataset/`: the picked images with one caption `.txt` beside each (the trainers' convention);
- `lora/`: trained or imported LoRA versions `v1.safetensors` … and training checkpoints.

Only `train` and `candidates` need torch; everything else runs on numpy and Pillow.
"""
