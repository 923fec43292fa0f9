"""Domain types every other layer shares. Imports nothing of huangpu."""
