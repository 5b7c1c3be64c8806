"""The one way our three CLIs report a user's mistake: one line on stderr, exit code 2."""

import click


class InputError(click.ClickException):
    """A bad input (file, model, device, setting); click prints 'Error: <message>'."""

    exit_code = 2
