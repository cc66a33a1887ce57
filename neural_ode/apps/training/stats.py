"""Standard errors of test errors, for the verdicts of the Section 3 claims."""

from __future__ import annotations

import math


def binomial_se(error: float, images: int) -> float:
    """Standard error of a test error (fraction) measured on ``images`` images: sqrt(p(1-p)/n)."""
    return math.sqrt(error * (1 - error) / images) if images else float("nan")


def difference_se(error_a: float, images_a: int, error_b: float, images_b: int) -> float:
    """Standard error of the difference of two test errors (fractions), pooled (two-proportion test)."""
    pooled = (error_a * images_a + error_b * images_b) / (images_a + images_b)
    return math.sqrt(pooled * (1 - pooled) * (1 / images_a + 1 / images_b))
