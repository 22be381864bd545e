"""Chunks: the seed's rule (a new chunk when the speaker changes or the chunk already exceeds cut_size)."""
