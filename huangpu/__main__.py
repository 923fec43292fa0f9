"""`python -m huangpu ...`: the same CLI as the `huangpu` console script.

The launcher starts its child processes this way, so it needs no console script on PATH.
"""

from huangpu.cli.main import main

if __name__ == "__main__":
    main()
