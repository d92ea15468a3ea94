"""Prefect orchestration of the DAFSet build: thin wiring over the stage functions of ``dafset``.

- ``flows.build_dafset``: the flow ``build-dafset`` (one task per stage) and its deployment entrypoint;
- ``flows.policy``: retry, cache and concurrency decisions shared by the tasks;
- ``flows.report``: the table and markdown artifacts read from a published snapshot;
- ``flows.setup``: ``python -m flows.setup`` creates the global concurrency limit and the work pool;
- ``flows.serve``: ``python -m flows.serve`` runs the weekly schedule without a work pool.
"""
