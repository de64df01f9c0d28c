"""Tier renderers: each module exposes `render(job) -> dict` writing `job.out_path`."""
