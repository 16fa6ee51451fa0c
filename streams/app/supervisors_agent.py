"""Role ``supervisors``: simulated supervisors (监督员) answering verify tasks.

It stands in for the centre's field staff in demos and load tests: every open task on
``verify.tasks`` gets a verify_ok or, for a realistic share, a verify_fail (返工) from the
task's supervisor on ``case.updates``, some of them after the verify limit. Deterministic per
case id, rework round and seed. When a verification closes a hotline case, the centre's
callback desk (回访) calls the citizen back (:mod:`streams.cases.callback_sim`).
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.app.metrics import Metrics
from streams.cases.callback_sim import simulate_callback
from streams.cases.supervisor_sim import simulate_verification
from streams.cases.verification import TaskStatus, VerifyTask
from streams.contracts.topics import UPDATES, VERIFY_TASKS
from streams.settings import Settings

__all__ = ["register"]


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    raw_topic = {"key_serializer": "raw", "value_serializer": "raw"}
    tasks = app.topic(settings.kafka.topic(VERIFY_TASKS), **raw_topic)
    updates = app.topic(settings.kafka.topic(UPDATES), **raw_topic)

    async def supervisors(stream: Any) -> None:
        async for value in stream:
            task = VerifyTask.from_dict(orjson.loads(value))
            if task.status is not TaskStatus.OPEN:
                callback = simulate_callback(task, seed=settings.worker.department_seed)
                if callback is not None:  # a hotline case closed: call the citizen back
                    value = orjson.dumps(callback.to_dict())
                    await updates.send(key=str(task.case_id).encode(), value=value, force=True)
                continue  # settled: the answer is already in
            update = simulate_verification(task, seed=settings.worker.department_seed)
            value = orjson.dumps(update.to_dict())
            await updates.send(key=str(task.case_id).encode(), value=value, force=True)
            metrics.inc("citystream_verifications_total", action=update.action.value)

    app.agent(tasks, name="supervisors")(supervisors)
