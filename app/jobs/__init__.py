"""Benchmark execution by Celery workers (``LTB_EXECUTOR=celery``, ``ltb worker``)."""
