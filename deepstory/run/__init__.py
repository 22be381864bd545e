"""The render itself: the command line, config checks, the run's context, the stage loop, the report.

Nothing here knows a particular stage: stages are listed under ``stages:`` in
the config and built from their ``_target_``.
"""
