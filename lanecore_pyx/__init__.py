"""Compiled scheduling core of lanecore (Cython twins of lanecore._tokenbucket_py and
lanecore._lanetable_py); import it through :mod:`lanecore._impl`."""
