"""How our three CLIs report a user's mistake: one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys

import click


class InputError(click.ClickException):
    """A bad input (file, model, device, setting): 'Error: <message>', exit code 2."""

    exit_code = 2


class OneLineCommand(click.Command):
    """A click command whose usage errors are one line too (click would add the usage text)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            # Without standalone mode click returns ctx.exit()'s code instead of exiting.
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)
