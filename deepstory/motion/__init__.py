"""Motion: a chunk's speech -> its motion track (the "base").  The interface is in ``base``; one module per backend."""
