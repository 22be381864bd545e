"""The kernel: what every stage builds on, and nothing any stage defines.

* :mod:`.stage` — the :class:`~deepstory.kernel.stage.Stage` base and the
  :class:`~deepstory.kernel.stage.Frontier` stages publish while running side by side;
* :mod:`.context` — the :class:`~deepstory.kernel.context.RunContext` every stage
  is handed (run dir, media constants, executor, cache, progress);
* :mod:`.progress` — progress bars, warnings, per-stage figures, the Ctrl-C latch.

It imports no stage package (``tests/test_kernel.py`` walks its imports); the
stages sit above it, the driver (``deepstory.run``) above them.
"""
