"""Bounds on what one tenant's workflows may start."""

MAX_DEPTH = 3                    # a workflow's writes may trigger workflows this many levels deep
# Runs a tenant starts per minute, from every trigger, unless it saved its own bound
# (``PUT /api/v1/workflow-settings``): 100 record changes a second, each starting a run, pass.
DEFAULT_MAX_RUNS_PER_MINUTE = 6000
