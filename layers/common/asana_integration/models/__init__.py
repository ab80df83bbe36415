"""Value models every part of the layer shares. No I/O here, and no import of ours but ``config`` and ``errors``."""
