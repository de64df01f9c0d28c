"""NLE round trips: exports for DaVinci Resolve / Kdenlive / FCP7 XML / MLT, the shot registry,
re-attaching ShotSpecs to clips an NLE stripped, editor orders (markers) and relinking."""
