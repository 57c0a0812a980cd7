"""A run folder: its layout and typed model description (``layout``, ``info``), the outputs a
finished run writes (``outputs``), its evaluation (``evaluation``) and batch prediction
(``batch_prediction``).

Nothing is re-exported here: ``predict`` reads ``run.layout`` and ``run.info``, while
``run.evaluation`` and ``run.batch_prediction`` use ``predict``; importing this package must not
pull the latter in.
"""
