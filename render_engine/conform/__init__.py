"""Conform: render a timeline's active media as one movie (the `video` OTIO adapter's engine)."""
