"""Helpers for tests and benchmarks: builders, and the real parts started as local processes.

Never imported by production code (import-linter checks this).
"""
