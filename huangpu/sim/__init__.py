"""Trace-driven simulator: the same ``scheduling.run_cycle`` and ``ledger`` as production.

    events     event heap ordered by (time, priority, seq) and the simulated clock
    world      pools, nodes, chips, prices and voucher programs of a simulated city
    jobs       SimJob, the one job shape every trace loader produces
    engine     the discrete-event engine: arrivals, cycles, rounds, progress, completions
    gavel      Gavel's throughput matrix, job generator and traces (OSDI '20)
    metrics    JCT, queueing, makespan, utilisation, fairness; billing through the ledger
    report     Markdown report and PNG plots

Nothing outside ``huangpu.cli`` imports this package (import-linter checks it).
"""
