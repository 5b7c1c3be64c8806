"""How our three CLIs report a user's mistake: one line on stderr and a non-zero exit.

`DigitsError` is the one type for "the user gave us something we cannot use" (a file, a
model, a device, a setting). Library code raises a subclass of it with a one-line message;
each command catches it once, at its edge (`OneLineCommand`), and prints `Error: <message>`
with exit code 2. Anything else is a bug and stays a traceback.
"""

from __future__ import annotations

import math
import signal
import sys

import click

USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130  # Ctrl-C (128 + SIGINT), as shells report it
TERMINATED_EXIT = 143  # SIGTERM (128 + 15)


class DigitsError(Exception):
    """A bad input or setting; str(error) is one line for the user."""


class ConfigError(DigitsError):
    """A setting that cannot work (an option the architecture lacks, a device that is not there)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it unwinds as on Ctrl-C: `finally` blocks close
    videos and remove temporary files, training saves its last finished epoch."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


class FiniteFloat(click.FloatRange):
    """A float option within a range that is a real number: click's FloatRange lets nan through
    (nan < 0 is false), and inf through an open-ended range."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first non-empty line of an exception's message (libraries raise pages of text), or its
    type's name when it has none; at most `limit` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]


class InputError(click.ClickException):
    """A bad command-line input found by the CLI itself: 'Error: <message>', exit code 2."""

    exit_code = USER_ERROR_EXIT


def _print_version(ctx: click.Context, version: str) -> None:
    click.echo(f"{ctx.info_name} (digits-toolkit) {version}")
    ctx.exit(0)


class OneLineCommand(click.Command):
    """A click command whose errors are one line: usage errors (click would add the usage text)
    and every DigitsError the library raises."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"], "max_content_width": 100})
        super().__init__(*args, **kwargs)
        from . import __version__

        self.params.append(click.Option(["--version"], is_flag=True, expose_value=False, is_eager=True,
                                        help="Print the toolkit's version and exit.",
                                        callback=lambda ctx, param, value: value and _print_version(ctx, __version__)))

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            # Without standalone mode click returns ctx.exit()'s code instead of exiting.
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except DigitsError as exc:
            click.echo(f"Error: {' '.join(str(exc).split())}", err=True)  # one line, whatever the message held
            sys.exit(USER_ERROR_EXIT)
        except (click.Abort, KeyboardInterrupt) as exc:  # click turns Ctrl-C (and our Terminated) into Abort
            # click >= 8.1.4 raises Abort from the interrupt; older ones inside its handler (__context__).
            terminated = any(isinstance(e, Terminated) for e in (exc, exc.__cause__, exc.__context__))
            click.echo("Terminated." if terminated else "Aborted.", err=True)
            sys.exit(TERMINATED_EXIT if terminated else INTERRUPTED_EXIT)
        sys.exit(code if isinstance(code, int) else 0)
