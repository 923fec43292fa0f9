"""Who may call what: one table for every route of the app (issue 9).

Each entry names the roles that may call the route and the scoping rule that narrows what a
permitted caller reaches. The routes enforce it themselves (``require(...)`` and the services'
org checks); this table is the contract they are held to. tests/unit/api/test_access_matrix.py
calls every route of the app as every kind of caller and compares the outcome with the table,
and fails on a route that has no entry here, so a new route cannot ship without a decision.

Roles: ``anonymous`` (no token), ``tenant`` (bound to an org), ``agent`` (bound to a pool),
``operator``. Scopes:

- ``none``: the role is enough.
- ``org``: a tenant reaches only its own org's jobs, logs, bills, balances and budgets; another
  org's object reads as not found (404) or is absent from a listing. Operators reach all orgs.
- ``pool``: an agent acts only for agents registered in its own pool (403 otherwise).

The wall (``/wall``, ``/v1/stream/wall``) is public while ``wall_public`` is true (the default,
listed here); with it false, only operators may watch it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ANONYMOUS, TENANT, AGENT, OPERATOR = "anonymous", "tenant", "agent", "operator"
ROLES = (ANONYMOUS, TENANT, AGENT, OPERATOR)


class Scope(StrEnum):
    NONE = "none"
    ORG = "org"
    POOL = "pool"


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    scope: Scope = Scope.NONE

    def allows(self, role: str) -> bool:
        return role in self.roles


def _rule(*roles: str, scope: Scope = Scope.NONE) -> Rule:
    return Rule(frozenset(roles), scope)


PUBLIC = _rule(ANONYMOUS, TENANT, AGENT, OPERATOR)
ANY_TOKEN = _rule(TENANT, AGENT, OPERATOR)
OPERATOR_ONLY = _rule(OPERATOR)
MEMBERS = _rule(TENANT, OPERATOR, scope=Scope.ORG)  # tenants for their org, operators for any
AGENT_OF_POOL = _rule(AGENT, scope=Scope.POOL)
# The tenant console: anonymous callers are sent to /login, agents get 403, operators are
# sent to their own console (/ops); a job page and its cancel button also serve operators.
CONSOLE = _rule(TENANT, scope=Scope.ORG)

POLICY: dict[tuple[str, str], Rule] = {
    # FastAPI's own documentation routes
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    # public
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/v1/chips"): PUBLIC,
    ("GET", "/v1/schema/jobspec"): PUBLIC,
    # any token
    ("GET", "/v1/whoami"): ANY_TOKEN,
    ("GET", "/v1/pools"): ANY_TOKEN,
    ("GET", "/v1/prices"): ANY_TOKEN,
    ("GET", "/v1/platform-fee"): ANY_TOKEN,
    # operator: registry and tokens
    ("POST", "/v1/orgs"): OPERATOR_ONLY,
    ("GET", "/v1/orgs"): OPERATOR_ONLY,
    ("POST", "/v1/suppliers"): OPERATOR_ONLY,
    ("GET", "/v1/suppliers"): OPERATOR_ONLY,
    ("POST", "/v1/pools"): OPERATOR_ONLY,
    ("POST", "/v1/tokens"): OPERATOR_ONLY,
    ("GET", "/v1/tokens"): OPERATOR_ONLY,
    ("POST", "/v1/tokens/{token_id}/revoke"): OPERATOR_ONLY,
    # operator: money
    ("POST", "/v1/prices"): OPERATOR_ONLY,
    ("POST", "/v1/platform-fee"): OPERATOR_ONLY,
    ("POST", "/v1/vouchers/programs"): OPERATOR_ONLY,
    ("GET", "/v1/vouchers/programs"): OPERATOR_ONLY,
    ("POST", "/v1/vouchers/grants"): OPERATOR_ONLY,
    ("POST", "/v1/orgs/{org}/topups"): OPERATOR_ONLY,
    ("POST", "/v1/orgs/{org}/credit-line"): OPERATOR_ONLY,
    ("GET", "/v1/settlements/{quarter}"): OPERATOR_ONLY,
    # operator: quotas per org and chip family
    ("POST", "/v1/quotas"): OPERATOR_ONLY,
    ("GET", "/v1/quotas"): OPERATOR_ONLY,
    # tenants (own org) and operators (any org)
    ("POST", "/v1/jobs"): MEMBERS,
    ("POST", "/v1/jobs:batch"): MEMBERS,
    ("GET", "/v1/jobs"): MEMBERS,
    ("GET", "/v1/jobs/{job_id}"): MEMBERS,
    ("GET", "/v1/jobs/{job_id}/logs"): MEMBERS,
    ("POST", "/v1/jobs/{job_id}/cancel"): MEMBERS,
    ("GET", "/v1/bills/{month}"): MEMBERS,
    ("GET", "/v1/balances"): MEMBERS,
    ("POST", "/v1/budgets"): MEMBERS,
    ("GET", "/v1/budgets"): MEMBERS,
    ("GET", "/v1/stream/jobs"): MEMBERS,
    ("GET", "/v1/stream/jobs/{job_id}"): MEMBERS,
    # agents, for their own pool
    ("POST", "/v1/agent/register"): _rule(AGENT),
    ("POST", "/v1/agent/poll"): AGENT_OF_POOL,
    ("POST", "/v1/agent/report"): AGENT_OF_POOL,
    # web: public pages and sign-in
    ("GET", "/"): PUBLIC,
    ("GET", "/static/{path:path}"): PUBLIC,
    ("GET", "/wall"): PUBLIC,
    ("GET", "/v1/stream/wall"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    # web: the tenant console
    ("GET", "/console"): CONSOLE,
    ("POST", "/console/jobs"): CONSOLE,
    ("GET", "/console/jobs/{job_id}"): MEMBERS,
    ("POST", "/console/jobs/{job_id}/cancel"): MEMBERS,
    # web: the operator console
    ("GET", "/ops"): OPERATOR_ONLY,
    ("POST", "/ops/{noun}"): OPERATOR_ONLY,
    ("POST", "/ops/tokens/{token_id}/revoke"): OPERATOR_ONLY,
    ("POST", "/ops/ledger/programs"): OPERATOR_ONLY,
}


def rule_for(method: str, path: str) -> Rule | None:
    """The rule of a route template (e.g. ``/v1/jobs/{job_id}``), or None if it has none."""
    return POLICY.get((method.upper(), path))
