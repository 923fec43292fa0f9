"""The `huangpu` command line: Typer commands, one module per noun."""
