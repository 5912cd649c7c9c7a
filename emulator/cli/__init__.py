"""The `ipo-emu` command: thin — parse, call the core, render.

Every failure a user can cause ends here as one line on stderr and exit code 2; an
unexpected failure is one line and exit code 70 (set IPO_EMU_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import importlib
import os

from typing import Any

import typer
import typer.core

from emulator import __version__
from emulator.cli.output import UserError, error_line, told


class LazyGroup(typer.core.TyperGroup):
    """The root command: each subcommand's module is imported only when that command runs, so
    `ipo-emu --version` and `--help` start in a few hundredths of a second (python-can and
    pip load their plugins the same way)."""

    COMMANDS: dict[str, tuple[str, str | None, str]] = {
        # name: (module, command in that module's app or None for a group, short help)
        "run": ("emulator.cli.scenario_cmd", "run", "Run a scenario and report what the licenses allowed."),
        "validate": ("emulator.cli.scenario_cmd", "validate", "Check a scenario file without running it."),
        "schema": ("emulator.cli.scenario_cmd", "schema", "Write the JSON Schema of scenario files."),
        "size": ("emulator.cli.scenario_cmd", "size", "Recommend SIP trunk and VCM channels for a load (Erlang-B)."),
        "events": ("emulator.cli.scenario_cmd", "events", "Read an --events file back and count its events."),
        "load": ("emulator.cli.load_cmd", "load", "Load-test license enforcement: fleets, processes, CSV, gates."),
        "replay": ("emulator.cli.replay_cmd", "replay", "Replay a site's SMDR export against a license plan."),
        "smdr": ("emulator.cli.smdr_cmd", None, "SMDR call records: receive a unit's live feed."),
        "serve": ("emulator.cli.serve_cmd", "serve", "Run units on the wall clock, served over MQTT until stopped."),
        "watch": ("emulator.cli.watch_cmd", "watch", "Watch served units live: pools, calls, refusals, feature key."),
        "models": ("emulator.cli.models_cmd", None, "Control units, capacities and license catalogues."),
        "license": ("emulator.cli.license_cmd", None, "Issue, inspect and exchange license keys."),
        "unit": ("emulator.cli.unit_cmd", None, "Inspect an emulated control unit."),
        "dongle": ("emulator.cli.dongle_cmd", None, "Serve, list and probe feature-key dongles."),
    }

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.COMMANDS)

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in self.COMMANDS:
            return None
        module_name, command, _ = self.COMMANDS[name]
        module = importlib.import_module(module_name)
        group = typer.main.get_group(module.app)  # a group even when it has a single command
        if command is None:
            group.name = name
            return group
        return group.get_command(ctx, command)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The list of commands from the table above, without importing them."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in self.COMMANDS.items()])


app = typer.Typer(
    name="ipo-emu",
    help="Emulate Avaya IP Office control units and the licenses they enforce.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
    rich_markup_mode=None,
)


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


def user_errors() -> tuple[type[BaseException], ...]:
    """Failures a user can cause: one line and exit 2 (imported only when one happens)."""
    from emulator.licensing import KeyFormatError, SerialNumberError
    from emulator.licensing.issuer import IssueError
    from emulator.licensing.issuer_registry import AlreadyExchangedError, RegistryError, TrialAlreadyIssuedError
    from emulator.licensing.issuer_secret import IssuerSecretError
    from emulator.runtime.network import NetworkConfigError
    from firmware_models import ModelDataError
    from hardware.feature_keys import FeatureKeyError

    return (UserError, ModelDataError, LookupError, SerialNumberError, KeyFormatError, IssueError, RegistryError,
            TrialAlreadyIssuedError, AlreadyExchangedError, IssuerSecretError, FeatureKeyError, NetworkConfigError)


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
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if isinstance(exc, user_errors()):
            error_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return EXIT_USAGE
        if os.environ.get("IPO_EMU_DEBUG"):
            raise
        error_line(f"internal error: {type(exc).__name__}: {exc} (set IPO_EMU_DEBUG=1 for details)")
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0
