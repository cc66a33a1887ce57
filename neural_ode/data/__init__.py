"""Data read from local files, below the workloads and the training experiments that use it.

* :mod:`.images`: the image-classification data (scikit-learn's digits, MNIST from IDX files),
  split and standardised: the ``digits`` workload's and ``neural-ode-bench train``'s data.
* :mod:`.idx`: the IDX file format of MNIST, read and written.
"""

from __future__ import annotations

from neural_ode.exports import lazy_exports

#: the data API: public name -> where it is defined
EXPORTS = {
    "Dataset": "neural_ode.data.images",
    "DataError": "neural_ode.data.images",
    "check_data_spec": "neural_ode.data.images",
    "load_data": "neural_ode.data.images",
    "load_digits": "neural_ode.data.images",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
