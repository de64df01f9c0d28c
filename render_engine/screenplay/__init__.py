"""Screenplays in, edits out: the Fountain parser, the coverage planner and the writer.

`parser` reads Fountain 1.1 text into a `model.Screenplay`; `casting` matches its names to the
production bible; `direction` reads stage directions (who enters, sits, how a line is said);
`blocking` places characters on a set's floor; `notes` reads shot notes; `coverage` turns each
scene into a `plan` of shots; `edit` builds the OTIO timeline; `source` and `writer` turn a
timeline back into Fountain. `otio_adapters/fountain.py` is the thin OTIO adapter over them.
"""
