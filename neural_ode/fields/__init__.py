"""Vector fields and the layers around them that workloads and training models share."""

from __future__ import annotations

from neural_ode.exports import lazy_exports

#: the fields and layers the applications build models from: public name -> where it is defined
EXPORTS = {
    "ODEBlockField": "neural_ode.fields.odenet",
    "PAPER_STEM_MIN_SIDE": "neural_ode.fields.odenet",
    "feature_side": "neural_ode.fields.odenet",
    "group_norm": "neural_ode.fields.odenet",
    "head": "neural_ode.fields.odenet",
    "stem": "neural_ode.fields.odenet",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
