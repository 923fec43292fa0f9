"""`huangpu job why ID` prints the scheduler's reason for a waiting job."""

from __future__ import annotations

import json
from typing import Any

REASON = (
    "org acme has used its quota for ascend chips (16 of 16 compute units, and its cohort has "
    "nothing left to lend); it starts when the org's own jobs end"
)


def test_job_why_prints_the_reason(invoke: Any, server: Any) -> None:
    server.on("GET", "/v1/jobs/job_01TEST", 200, server.job_view(reason=REASON))
    result = invoke("job", "why", "job_01TEST")
    assert result.exit_code == 0, result.output
    assert "job_01TEST is PENDING" in result.stdout and "quota for ascend" in result.stdout
    alias = invoke("why", "job_01TEST", "--json")
    assert json.loads(alias.stdout)["reason"] == REASON


def test_job_why_for_a_running_job_and_without_an_id(invoke: Any, server: Any) -> None:
    server.on("GET", "/v1/jobs/job_01TEST", 200, server.job_view(state="RUNNING", pool="sh-a100"))
    result = invoke("job", "why", "job_01TEST")
    assert result.exit_code == 0 and "not waiting" in result.stdout
    assert invoke("job", "why").exit_code == 2
