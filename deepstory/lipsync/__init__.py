"""Lip sync: how well the rendered mouths follow the speech (``score``), measured by ``stage``."""
