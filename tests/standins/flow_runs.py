"""Reading back what a flow run did: the task runs of its one subflow (build-dafset's stages,
ingest-dump's shards), through the Prefect API of the server the test runs against."""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
)


def subflow_task_runs(flow_state: Any) -> list[Any]:
    """The task runs of the single subflow started by the flow run that ended in ``flow_state``."""
    parent = flow_state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent]))
        )
        assert len(children) == 1, children
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[children[0].id])))
