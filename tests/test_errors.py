"""neural_ode.errors: the failure vocabulary on the ground floor, typed failures classified by type."""

import ast
import pathlib

import pytest
import torch

import neural_ode.errors as errors
from neural_ode.errors import (
    STATUSES,
    BadRecord,
    CellTimeout,
    ConfigError,
    NonFiniteError,
    StepSizeUnderflow,
    TooManySteps,
    UsageError,
    classify,
)
from neural_ode.integrators import ADAPTIVE_TABLEAUX, solve_adaptive


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (CellTimeout("cell exceeded its timeout of 1 s"), "timeout"),
        (NonFiniteError("non-finite values in the loss"), "non_finite"),
        (StepSizeUnderflow("worded any way at all"), "step_size_underflow"),
        (TooManySteps("worded any way at all"), "too_many_steps"),
        (torch.OutOfMemoryError("CUDA out of memory"), "out_of_memory"),
        (MemoryError(), "out_of_memory"),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory"), "out_of_memory"),
        # torchdiffeq's AssertionErrors, known only by their text
        (AssertionError("underflow in dt 0.0"), "step_size_underflow"),
        (AssertionError("underflow in dt nan"), "non_finite"),
        (AssertionError("max_num_steps exceeded (20000>=20000)"), "too_many_steps"),
        (ValueError("something else"), "error"),
    ],
)
def test_classify_gives_each_failure_its_status(exc, status):
    got, message = classify(exc)
    assert got == status and got in STATUSES
    assert message.startswith(type(exc).__name__)


def test_our_typed_failures_need_no_wording():
    """A status comes from the type: a message that names another failure does not change it."""
    assert classify(TooManySteps("underflow in dt 0.0"))[0] == "too_many_steps"
    assert classify(StepSizeUnderflow("max_num_steps exceeded"))[0] == "step_size_underflow"


def test_the_message_is_one_line_of_at_most_500_characters():
    status, message = classify(ValueError("first line " + "x" * 600 + "\nsecond line"))
    assert status == "error" and "\n" not in message and len(message) == 500


def test_bad_input_errors_are_value_errors_re_exported_where_they_were():
    from neural_ode.axes import ConfigError as axes_config_error
    from neural_ode.config import ConfigError as config_config_error
    from neural_ode.measuring.counting import CellTimeout as counting_timeout
    from neural_ode.measuring.failures import NonFiniteError as failures_non_finite
    from neural_ode.results.records import BadRecord as records_bad_record
    from neural_ode.validation import UsageError as validation_usage_error

    assert all(issubclass(kind, ValueError) for kind in (UsageError, ConfigError, BadRecord))
    assert axes_config_error is config_config_error is ConfigError
    assert validation_usage_error is UsageError and records_bad_record is BadRecord
    assert counting_timeout is CellTimeout and failures_non_finite is NonFiniteError


def test_the_own_adaptive_solver_raises_typed_failures():
    field = lambda t, y: -y  # noqa: E731
    y0, times = torch.ones(2), torch.tensor([0.0, 1.0])
    with pytest.raises(TooManySteps) as caught:
        dopri5, options = ADAPTIVE_TABLEAUX["dopri5"], {"max_num_steps": 3}
        solve_adaptive(field, y0, times, dopri5, rtol=1e-12, atol=1e-12, options=options)
    assert classify(caught.value)[0] == "too_many_steps"
    nan_field = lambda t, y: y * float("nan")  # noqa: E731
    with pytest.raises(NonFiniteError):
        solve_adaptive(nan_field, y0, times, ADAPTIVE_TABLEAUX["dopri5"], rtol=1e-6, atol=1e-6, options={})


def test_errors_imports_nothing_of_the_package():
    tree = ast.parse(pathlib.Path(errors.__file__).read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m and (m.startswith("neural_ode") or m == "torch")], imported
