"""Shared command-line plumbing: user errors, a one-line argparse parser and argument types.

Every subcommand lives in its subpackage as `main(argv) -> int` and builds its own parser from
`OneLineParser`; `thermo_manifold.cli` only dispatches. A subcommand raises `UserError` for
anything the user got wrong, and the top level prints it in one line and exits with status 2.
"""

from __future__ import annotations

import argparse


class UserError(Exception):
    """A problem with what the user asked for (reported in one line, exit status 2)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the message and exits; we raise `UserError` instead."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def int_at_least(minimum: int):
    """An argparse type for integers >= `minimum`, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def float_in(low: float, high: float):
    """An argparse type for floats in the closed interval [low, high]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a number in [{low}, {high}], got {text!r}")
        return value

    return parse


__all__ = ["OneLineParser", "UserError", "float_in", "int_at_least"]
