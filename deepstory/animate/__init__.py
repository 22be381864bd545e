"""Animation: portraits moved by motion tracks, encoded in segments.  The interface is in ``base``; one module per animator."""
