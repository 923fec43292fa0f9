"""Executors: how an agent runs leased jobs on its engine (base.py has the interface)."""
