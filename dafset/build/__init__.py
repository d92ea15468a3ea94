"""The build stages: harvest → enrich → likelihood → assemble (render, rules) → publish.

``pipeline`` holds one plain function per stage; ``run`` chains them for the CLI, and
``flows/`` wraps the same functions as Prefect tasks.
"""
