"""Shared command-line plumbing: user errors and an argparse parser that reports in one line."""

from __future__ import annotations

import argparse


class UserError(Exception):
    """A problem with what the user asked for (reported in one line, exit status 2)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the message and exits; we raise `UserError` instead."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


__all__ = ["OneLineParser", "UserError"]
