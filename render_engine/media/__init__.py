"""Media I/O: encoding rendered frames and audio to NLE-friendly files, probing and reading them."""
