"""Table 1's "matches" claims: a difference inside the standard errors is named for what it is."""

import pandas as pd

from neural_ode.apps.training.claims import _Claims
from neural_ode.reporting.claims.verdicts import DOES_NOT_HOLD, NOT_SIGNIFICANTLY_DIFFERENT


def _table(errors_pct: dict[str, float], images: int = 360) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": list(errors_pct),
            "test_error_pct": list(errors_pct.values()),
            "test_images": [images] * len(errors_pct),
        },
        index=list(errors_pct),
    )


def test_three_against_eight_errors_of_360_is_not_significantly_different_not_holds():
    claims = _Claims(_table({"ode": 100 * 3 / 360, "res": 100 * 8 / 360}))
    claims.same_error("ODE-Net matches ResNet", "0.42% vs 0.41%", "ode", "res")
    assert claims.rows[-1]["verdict"] == NOT_SIGNIFICANTLY_DIFFERENT
    assert "-1.39 ± 0.91 points" in claims.rows[-1]["measured"]  # (3 - 8) / 360, its standard error


def test_a_difference_beyond_two_standard_errors_does_not_hold():
    claims = _Claims(_table({"ode": 0.5, "res": 10.0}))
    claims.same_error("ODE-Net matches ResNet", "0.42% vs 0.41%", "ode", "res")
    assert claims.rows[-1]["verdict"] == DOES_NOT_HOLD
