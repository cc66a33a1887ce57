"""The benchmark suites of neural-ode-bench: ASV (``bench_*.py``) and pytest-benchmark (``test_bench_*.py``).

Both measure the cells of one grid, defined in :mod:`benchmarks.common`, through the package's
measuring core (``neural_ode.measuring.cell``). The grid's size is chosen by the environment variable
``NEURAL_ODE_BENCH_PROFILE`` (``quick``, the default, or ``full``).
"""
