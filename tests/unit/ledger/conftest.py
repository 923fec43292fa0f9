"""Lets the ledger tests share ``ledger_builders`` by name.

pytest 9 imports test modules in importlib mode, which does not put their folder on sys.path.
(``huangpu.testing`` would be the usual home for builders; this keeps the ledger work inside
its own folders.)
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
