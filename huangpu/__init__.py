"""huangpu: a city-scale dispatch platform for AI compute."""

__version__ = "0.1.0"
