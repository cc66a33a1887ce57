"""Data read from local files, below the workloads and the training experiments that use it.

* :mod:`.images`: the image-classification data (scikit-learn's digits, MNIST from IDX files),
  split and standardised: the ``digits`` workload's and ``neural-ode-bench train``'s data.
* :mod:`.idx`: the IDX file format of MNIST, read and written.
"""
