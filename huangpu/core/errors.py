"""The error tree users meet.

HuangpuError                  code, message, field (the API's error JSON shape)
├── InvalidInput              bad input: HTTP 422, CLI exit 2, nothing written
│   └── UnknownChip           with a did-you-mean
├── Unauthorized              missing or wrong token: HTTP 401
├── Forbidden                 right token, wrong role or org: HTTP 403
├── NotFound                  HTTP 404
└── Conflict                  a compare-and-set lost, or an illegal state move: HTTP 409
    └── IllegalTransition
"""

from __future__ import annotations


class HuangpuError(Exception):
    code = "error"
    http_status = 500

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class InvalidInput(HuangpuError):
    code = "invalid_input"
    http_status = 422


class UnknownChip(InvalidInput):
    code = "unknown_chip"


class Unauthorized(HuangpuError):
    code = "unauthorized"
    http_status = 401


class Forbidden(HuangpuError):
    code = "forbidden"
    http_status = 403


class NotFound(HuangpuError):
    code = "not_found"
    http_status = 404


class Conflict(HuangpuError):
    code = "conflict"
    http_status = 409


class IllegalTransition(Conflict):
    code = "illegal_transition"


class Unsatisfiable(InvalidInput):
    """No registered pool could ever run this request, however long it waited."""

    code = "unsatisfiable"
