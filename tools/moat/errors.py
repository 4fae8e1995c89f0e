# SPDX-License-Identifier: MIT
"""Errors a user can act on: the CLI prints them without a traceback."""

# Exit status of `moat` when it could not do what was asked (bad arguments,
# missing tools or build outputs). 0/1/2 are the booted system's own statuses.
USER_ERROR_EXIT = 3


class UserError(Exception):
    """A mistake or missing prerequisite the user can fix; the message says how."""


class Terminated(Exception):
    """moat got SIGTERM or SIGHUP while it ran something; what it started is already stopped."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum
