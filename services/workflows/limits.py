"""Bounds on what one tenant's workflows may start."""

MAX_DEPTH = 3                # a workflow's writes may trigger workflows this many levels deep
MAX_RUNS_PER_MINUTE = 600    # runs a tenant starts per minute, from every trigger
