"""The package version, single-sourced: pyproject.toml reads it (setuptools dynamic ``attr``).

Kept in a module of its own, with no imports, so that any layer (e.g. the data layer stamping the
files it writes) can read the version without importing the models.
"""

__version__ = "0.1.0.dev0"
