"""neural_ode.validation: every value a user gives parsed into its real range, or a UsageError naming it."""

import argparse
import os

import pytest

from neural_ode.errors import UsageError
from neural_ode.validation import (
    INT64_MAX,
    SEED_LIMIT,
    TIMEOUT_MAX_S,
    argument,
    check_regular_or_absent,
    open_owned,
    open_regular,
    parse_float,
    parse_int,
    parse_seed,
    parse_text,
    parse_timeout,
)


def test_integers_are_ascii_digits_within_int64():
    assert parse_int("--steps", "8") == 8 and parse_int("--steps", " +8 ") == 8 and parse_int("--n", 3) == 3
    assert parse_int("--steps", str(INT64_MAX)) == INT64_MAX
    for bad in ("٣", "8.0", 8.0, True, [8], "0", "-1", str(INT64_MAX + 1)):
        with pytest.raises(UsageError, match=r"--steps takes positive integers"):
            parse_int("--steps", bad)
    assert parse_seed("--seed", 0) == 0
    with pytest.raises(UsageError, match="of at most"):
        parse_seed("--seed", SEED_LIMIT)


def test_floats_are_finite_ascii_decimals():
    assert parse_float("--horizon", "1e-3") == 1e-3 and parse_float("--horizon", 2) == 2.0
    assert parse_float("--shift", "-1.5", positive=False) == -1.5
    for bad in ("nan", "inf", "0", "1,5", "١", True, 10**400):
        with pytest.raises(UsageError, match="--horizon takes positive numbers"):
            parse_float("--horizon", bad)
    assert parse_timeout("--timeout", TIMEOUT_MAX_S) == TIMEOUT_MAX_S
    with pytest.raises(UsageError, match="of at most 1e\\+06"):
        parse_timeout("--timeout", TIMEOUT_MAX_S * 2)


def test_text_is_one_non_empty_string_and_bad_values_are_shown_short():
    assert parse_text("--out", "results") == "results"
    for bad in ("", "  ", "a\0b", ["a"], 3):
        with pytest.raises(UsageError, match="--out takes one non-empty text value"):
            parse_text("--out", bad)
    with pytest.raises(UsageError) as caught:
        parse_int("--n", "x" * 500)
    assert "..." in str(caught.value) and len(str(caught.value)) < 120


def test_argument_turns_a_parser_into_an_argparse_type():
    convert = argument(parse_int, minimum=0)
    assert convert("0") == 0 and convert.__name__ == "int"
    with pytest.raises(argparse.ArgumentTypeError, match="it takes a non-negative integer"):
        convert("-1")


def test_files_the_tool_owns_are_regular_files_never_followed(tmp_path):
    path = tmp_path / "results.jsonl"
    assert check_regular_or_absent(path) is False
    with open_owned(path, "a") as handle:
        handle.write("line\n")
    assert check_regular_or_absent(path) is True
    with open_regular(path) as handle:
        assert handle.read() == b"line\n"
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(UsageError, match="symbolic link"):
        open_owned(link, "a")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        open_regular(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        check_regular_or_absent(tmp_path)
