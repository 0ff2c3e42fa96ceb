"""The data stage: dev-set synthesis, organizer data preparation, manifests.

Submodules: images (decode, ranges, PNGs, grids), styles (the four fixed
style transformations), synth (procedural scenes and the dev datasets),
manifest (manifest.json and verification), prepare (real data -> dataset),
commands (`easel data synth | prepare | verify`). Import the submodule you
need; this package imports nothing heavy.
"""
