"""Durations on the command line (migrator.durations): a bare number is seconds, PostgreSQL gets milliseconds."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from migrator.durations import milliseconds, postgres_setting, seconds, whole_seconds


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("5", 5_000),
        ("0", 0),
        ("500ms", 500),
        ("5s", 5_000),
        ("5S", 5_000),
        (" 2.5 s ", 2_500),
        ("15min", 900_000),
        ("1.5h", 5_400_000),
        ("1d", 86_400_000),
        ("250us", 0.25),
    ],
)
def test_a_duration_is_read_in_milliseconds(text: str, ms: float) -> None:
    assert milliseconds(text) == pytest.approx(ms)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("-1", "cannot be negative"),
        (" -5s", "cannot be negative"),
        ("", "is not a duration"),
        (".5", "is not a duration"),
        ("5.", "is not a duration"),
        ("1e3", "is not a duration"),
        ("5 s s", "is not a duration"),
        ("10m", "unknown unit 'm'"),
        ("3sec", "unknown unit 'sec'"),
    ],
)
def test_what_is_not_a_duration_is_refused_saying_why(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        milliseconds(text)


@pytest.mark.parametrize(
    ("text", "setting"),
    [("5", "5000ms"), ("0", "0ms"), ("1.5ms", "2ms"), ("1us", "1ms"), ("2min", "120000ms")],
)
def test_postgres_gets_whole_milliseconds_rounded_up(text: str, setting: str) -> None:
    assert postgres_setting(text) == setting


def test_seconds_keeps_fractions() -> None:
    assert seconds("1500ms") == 1.5
    assert seconds("2") == 2.0


@pytest.mark.parametrize(("text", "whole"), [("1", 1), ("500ms", 1), ("1.2", 2), ("1min", 60)])
def test_the_connect_timeout_is_whole_seconds_rounded_up(text: str, whole: int) -> None:
    assert whole_seconds(text) == whole


@pytest.mark.parametrize("parse", [postgres_setting, seconds, whole_seconds])
def test_bad_values_are_argparse_errors(parse: Callable[[str], object]) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="is not a duration"):
        parse("soon")


def test_a_zero_connect_timeout_is_refused_as_libpq_would_wait_forever() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="at least 1s"):
        whole_seconds("0")
