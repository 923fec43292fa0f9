"""The pool agent: registers a supplier's devices, runs leased jobs, reports what happened.

Kept import-light on purpose: the per-job shim (``executors.shim``) imports this package.
Entry point: ``huangpu.agent.runner.run_agent``.
"""
