"""Every recorded history (tests/histories/, made by tests/record_histories.py from the
deployed code) replays against today's workflow code. A change that would break a running
workflow fails here: guard it with ``workflow.patched`` (see README, "Changing a workflow")."""
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from soonish.temporal.worker import WORKFLOWS

HISTORIES = sorted(Path(__file__).with_name("histories").glob("*.json"))


def test_there_is_a_history_of_every_workflow():
    recorded = {json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
                for path in HISTORIES}
    assert recorded == {workflow.__name__ for workflow in WORKFLOWS}


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_a_recorded_history_replays(path):
    recorded = json.loads(path.read_text())
    # Under the id it ran with: a workflow may name what it starts after its own id.
    workflow_id = recorded["events"][0]["workflowExecutionStartedEventAttributes"]["workflowId"]
    history = WorkflowHistory.from_json(workflow_id, recorded)
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
