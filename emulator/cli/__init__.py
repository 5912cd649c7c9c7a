"""The `ipo-emu` command: thin — parse, call the core, render.

Every failure a user can cause ends here as one line on stderr and exit code 2; an
unexpected failure is one line and exit code 70 (set IPO_EMU_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import os

import typer

from emulator import __version__
from emulator.cli import dongle_cmd, license_cmd, models_cmd, scenario_cmd, unit_cmd
from emulator.cli.output import UserError, error_line
from emulator.cli.output import told
from emulator.licensing import KeyFormatError, SerialNumberError
from emulator.licensing.issuer import IssueError
from emulator.licensing.issuer_registry import (
    AlreadyExchangedError,
    RegistryError,
    TrialAlreadyIssuedError,
)
from emulator.licensing.issuer_secret import IssuerSecretError
from emulator.runtime.network import NetworkConfigError
from firmware_models import ModelDataError
from hardware.feature_keys import FeatureKeyError

app = typer.Typer(
    name="ipo-emu",
    help="Emulate Avaya IP Office control units and the licenses they enforce.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(models_cmd.app, name="models")
app.add_typer(license_cmd.app, name="license")
app.add_typer(unit_cmd.app, name="unit")
app.add_typer(dongle_cmd.app, name="dongle")
app.command("run")(scenario_cmd.run)
app.command("validate")(scenario_cmd.validate)
app.command("schema")(scenario_cmd.schema)
app.command("size")(scenario_cmd.size_cmd)
app.command("events")(scenario_cmd.events_cmd)


def _print_version(value: bool) -> None:
    if value:
        print(f"ipo-emu {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version, expose_value=True),
) -> None:
    """Emulate Avaya IP Office control units and the licenses they enforce."""


USER_ERRORS = (
    UserError,
    ModelDataError,
    LookupError,
    SerialNumberError,
    KeyFormatError,
    IssueError,
    RegistryError,
    TrialAlreadyIssuedError,
    AlreadyExchangedError,
    IssuerSecretError,
    FeatureKeyError,
    NetworkConfigError,
)

EXIT_USAGE = 2
EXIT_INTERNAL = 70


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    told.clear()  # the once-per-command notes (a test may call main several times)
    try:
        result = command.main(args=argv, prog_name="ipo-emu", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors: bad option, missing argument, bad value
        error_line(exc.format_message())
        return EXIT_USAGE
    except (typer.Abort, KeyboardInterrupt):
        error_line("aborted")
        return 130
    except USER_ERRORS as exc:
        error_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if os.environ.get("IPO_EMU_DEBUG"):
            raise
        error_line(f"internal error: {type(exc).__name__}: {exc} (set IPO_EMU_DEBUG=1 for details)")
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0
