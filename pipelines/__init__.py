"""Runnable Beam pipelines, one module per job. Not built yet."""
