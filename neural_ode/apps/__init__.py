"""The wing: applications built on the measuring package, which imports none of them.

* :mod:`.training`: ``neural-ode-bench train`` and ``train-bench`` (the paper's Section 3: models
  trained to a target, Table 1, the tolerance sweep, the training benchmark).
* :mod:`.published`: ``neural-ode-bench published`` (our figures beside published ones).

An app takes from the core only what its packages export (``neural_ode``, ``neural_ode.measuring``,
``neural_ode.reporting``, ``neural_ode.storage``, ``neural_ode.data``, ``neural_ode.fields``,
``neural_ode.workloads``, ``neural_ode.methods``) and the top-level modules (``neural_ode.config``,
``neural_ode.solvers``, ``neural_ode.units``, ``neural_ode.axes``, ``neural_ode.errors``), never a
module inside a core package; ``tests/test_imports.py`` checks both directions.
"""
