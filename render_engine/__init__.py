"""soloreel's render engine: production bible, ShotSpec, hashing, renderers and the CLI."""

__version__ = "0.1.0"
