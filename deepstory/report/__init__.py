"""What a user sees of a render: ``export/report.html`` per run (:class:`~deepstory.report.stage.ReportStage`), and
``report.html`` per sweep (:class:`~deepstory.report.sweep.SweepReport`, a Hydra callback).

Nothing is imported here: the sweep callback is built at every start of ``run.py`` and stays light.
"""
