"""Deepstory-compatible neural backends: DC-TTS voices, the SDA (GRID) base, the FOMM animator.

Own implementations of the published architectures, exact to the checkpoints'
state-dict layouts (``strict=True``), checked against golden outputs.
"""
