"""A long-running "service" that answers until it is stopped: the demo cancels it."""

from __future__ import annotations

import signal
import sys
import time


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print("serving on :8000 (pretend)", flush=True)
    tick = 0
    while True:
        tick += 1
        print(f"heartbeat {tick}: 0 requests queued", flush=True)
        time.sleep(1.0)


if __name__ == "__main__":
    sys.exit(main())
