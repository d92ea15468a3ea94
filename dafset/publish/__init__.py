"""From a table of Sample rows to a published snapshot on disk, and what reads it back.

One module per job, imported directly (no re-exports here, so ``import dafset.publish`` stays
cheap for the CLI):

- ``split``: stable train/validation/test assignment by (subject_id, relation_id); ``sample_id``.
- ``layout``: names and paths of a published snapshot; resolving ``latest``.
- ``card``: the README.md dataset card (YAML ``configs`` + ``dataset_info``, human part).
- ``manifest``: sizes, row counts, checksums, code version, provenance.
- ``figures``: PNG figures of the data distributions.
- ``writer``: ``publish_snapshot`` — atomic write, verify, swap, move ``latest``.
- ``export``: DAFNet and EasyEdit JSON exporters.
- ``stats``: counts per config/split/criterion/relation (DuckDB) and their rich rendering.
- ``progress``: ``stage()`` progress display for long steps.
"""
