"""Hand-written building blocks and the deterministic generators of interp's shipped datasets.

One module per failure mode plus the contrast sets; :mod:`interp.data.make_shipped` runs them
and writes ``interp/data/shipped/``. Every text here was written for interp (none is taken
from the paper's files). Generators take a ``random.Random`` and never touch global state, so
the output is byte-identical run to run.
"""
