"""neural_ode.units: one convention for every printed figure (MB = 10^6 bytes, ms below a second)."""

import math

import pytest

from neural_ode import units


@pytest.mark.parametrize(
    ("value", "shown"),
    [(3_200_000, "3.2 MB"), (999_000, "0.999 MB"), (2_500_000_000, "2.5 GB"), (None, "—"), (math.nan, "—")],
)
def test_megabytes_are_decimal(value, shown):
    assert units.megabytes(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(0.0166, "16.6 ms"), (1.234, "1.23 s"), (None, "n/a")])
def test_durations_are_milliseconds_below_a_second(value, shown):
    assert units.duration(value, missing="n/a") == shown


@pytest.mark.parametrize(("value", "shown"), [(3.3e-7, "3.3e-7"), (1.04e-6, "1e-6"), (0.095, "0.095"), (0.0, "0")])
def test_errors_have_two_significant_digits(value, shown):
    assert units.error(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(1e-5, "1e-5"), (3e-5, "3e-5"), (0.25, "0.25"), (10.0, "10")])
def test_tolerances_show_powers_of_ten_short(value, shown):
    assert units.tolerance(value) == shown


def test_ratios_and_costs():
    assert units.ratio(1.437) == "1.4×" and units.ratio(None) == units.MISSING
    assert units.cost("time", 0.5) == "500 ms" and units.cost("memory", 4e6) == "4 MB"
    assert units.MB == 1e6 and units.GB == 1e9 and units.MEMORY_UNIT == "MB"
