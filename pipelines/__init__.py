"""Runnable Beam jobs, one module per job (detect, index, search, compare), sharing launcher.py."""
