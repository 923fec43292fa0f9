"""The same store code on a real PostgreSQL: a server process on pg_url runs a job to the end."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from huangpu.store.models import JobRow
from huangpu.testing.builders import job_spec
from huangpu.testing.processes import Platform

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(180)]


def test_job_runs_to_succeeded_on_postgres(pg_url: str) -> None:
    with Platform(database_url=pg_url) as plat:
        token = plat.add_org("pg-org")
        plat.add_pool("pg-pool", "pg-supplier", "a100", 8)
        job = plat.api.submit(
            job_spec("on-postgres", 'echo "pg=$((20+22))"', chips=["a100"]), token
        )
        try:
            view = plat.api.wait_for_state(job["id"], "SUCCEEDED", timeout=60, token=token)
        except (TimeoutError, AssertionError) as error:
            tails = "\n".join(f"--- {k}\n{v}" for k, v in plat.log_tails().items())
            raise AssertionError(f"{error}\n{tails}") from None
        assert view["exit_code"] == 0, view
        assert "pg=42" in plat.api.wait_for_logs(job["id"], "pg=42", token=token)
        # The server really used PostgreSQL: no SQLite file, and the job row is in Postgres.
        assert not (plat.server.home / "huangpu.db").exists()
        engine = sa.create_engine(pg_url)
        try:
            with engine.connect() as conn:
                tables = set(sa.inspect(conn).get_table_names())
                assert "alembic_version" in tables, f"migrations not applied: {tables}"
                row = conn.execute(sa.select(JobRow.state).where(JobRow.id == job["id"])).first()
                assert row is not None, f"job {job['id']} is not in PostgreSQL"
                assert row.state == "SUCCEEDED", row
        finally:
            engine.dispose()
