"""Data: runs tables (read, recognise columns, derive C or D, validate), the bundled demo table,
loaders of the public reference tables, and documented groupings of them (recipes).

This stage knows no law, prior or model; every later stage reads the tables it makes.
"""

from bayes_scaling.data import datasets, recipes
from bayes_scaling.data.runs import load_runs

__all__ = ["datasets", "load_runs", "recipes"]
