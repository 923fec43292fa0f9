"""Glue between store, scheduling and (later) the ledger: the scheduler loop, the lease
reaper, and the services the API calls."""
