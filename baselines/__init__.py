"""Reference models for Easel, trained by their own scripts and submitted like any other entry.

Run the scripts as modules from the repository root, e.g.
``python -m baselines.cyclegan.train --data DATA_ROOT --out runs/cyclegan``.
"""
