"""A plain-Python batch "inference" job: score documents in batches on the devices it was given.

It needs no third-party package. It prints ASCEND_RT_VISIBLE_DEVICES, the variable the agent
sets for Ascend chips, so the demo shows which NPUs the job was placed on.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time


def score(doc: str) -> float:
    """A deterministic stand-in for a model: a few rounds of hashing per document."""
    digest = doc.encode()
    for _ in range(200):
        digest = hashlib.sha256(digest).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    devices = os.environ.get("ASCEND_RT_VISIBLE_DEVICES", "<unset>")
    print(f"ASCEND_RT_VISIBLE_DEVICES={devices}", flush=True)
    print(f"scoring {args.docs} documents in batches of {args.batch}", flush=True)
    start = time.perf_counter()
    total, positives = 0, 0
    for first in range(0, args.docs, args.batch):
        batch = [f"document-{i}" for i in range(first, min(first + args.batch, args.docs))]
        scores = [score(doc) for doc in batch]
        total += len(scores)
        positives += sum(s > 0.5 for s in scores)
        print(
            f"batch {first // args.batch + 1}: {total}/{args.docs} scored, {positives} positive",
            flush=True,
        )
        time.sleep(0.3)
    seconds = time.perf_counter() - start
    print(f"done: {total} docs in {seconds:.2f}s ({total / seconds:.0f} docs/s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
