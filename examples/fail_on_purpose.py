"""A job that fails on purpose (exit code 3), so the demo shows a FAILED job and its log."""

from __future__ import annotations

import sys
import time

print("loading dataset shard 7 of 16", flush=True)
time.sleep(1.0)
print("error: shard 7 checksum mismatch; giving up", file=sys.stderr, flush=True)
sys.exit(3)
