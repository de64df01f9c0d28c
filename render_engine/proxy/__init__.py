"""The proxy tier: a 2.5D animatic compositor (blocking, cameras, plates, cut-outs, lighting)."""
