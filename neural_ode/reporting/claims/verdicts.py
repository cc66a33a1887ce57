"""The one verdict vocabulary of every claims table (the sweep's report and ``train``'s).

A verdict says what the measurements support, never more:

* ``holds``: the measurement agrees with the claim, by the criterion stated beside it;
* ``mixed``: some of the lines a claim covers agree and some do not;
* ``does not hold``: the measurement contradicts the claim;
* ``not enough evidence``: measured, but the data cannot decide (too few points, too noisy, a
  difference within its standard error);
* ``not measured``: the run lacks what the claim needs (not a failure);
* ``not significantly different``: a claim that two figures are alike, where the measured
  difference lies within its standard errors. That is not a confirmation: with a few hundred test
  images a difference of several errors goes undetected, so the verdict names what was tested.

A fitted line of a growth claim is found to ``grow linearly``, be ``flat``, or give ``not enough
evidence``.

The HTML style (``reporting/templates/base.html.j2``) colours each by its class name: the
verdict with spaces as hyphens.
"""

HOLDS = "holds"
MIXED = "mixed"
DOES_NOT_HOLD = "does not hold"
NOT_ENOUGH_EVIDENCE = "not enough evidence"
NOT_MEASURED = "not measured"
NOT_SIGNIFICANTLY_DIFFERENT = "not significantly different"

VERDICTS = (HOLDS, MIXED, DOES_NOT_HOLD, NOT_ENOUGH_EVIDENCE, NOT_MEASURED, NOT_SIGNIFICANTLY_DIFFERENT)

#: what one fitted line shows (a claim's verdict is built from its lines' findings): the slope
#: clearly positive, within noise of zero relative to the intercept, or undecided
GROWS = "grows linearly"
FLAT = "flat"


def css_class(verdict: str) -> str:
    """The HTML class of ``verdict`` (``does not hold`` -> ``does-not-hold``)."""
    return verdict.replace(" ", "-")
