"""The commands that run or manage the service itself, which need the server extra.

``pip install pulse-ray`` brings the SDK and the client commands only (httpx, pydantic,
typer, rich); ``serve``, ``keys``, ``db``, ``secrets``, ``datasources`` and ``demo`` work on Ray
and the store, which come with ``pip install 'pulse-ray[server]'``. So that the client
commands never import the server's stack, these are listed by name and a line of help
and imported only when one is run; without the extra, running one answers a single
line naming the extra and exits 1, instead of a traceback.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand

__all__ = ["INSTALL", "SERVER_COMMANDS", "ServerCommand", "missing_extra"]

INSTALL = "pip install 'pulse-ray[server]'"
PANEL = "Run and manage the service (server extra)"


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    target: str  # "module:attribute": a Typer app (a group) or a command function
    help: str


_SPECS = (
    _Spec("serve", "pulse_ray.cli.serve:serve",
          "Run Pulse: Ray, the store, the API on Serve; until Ctrl-C."),
    _Spec("keys", "pulse_ray.cli.keys:app", "API keys, straight in the store (the first key)."),
    _Spec("db", "pulse_ray.cli.db:app", "The store's schema: apply migrations."),
    _Spec("secrets", "pulse_ray.cli.secrets:app",
          "The key sealing the store's secrets: rotate it."),
    _Spec("datasources", "pulse_ray.cli.datasources:app",
          "Datasources, straight in the store."),
    _Spec("demo", "pulse_ray.cli.demo:app", "Demo data: transactions, the e-commerce shop."),
)


class ServerCommand(TyperCommand):
    """Stands in for a server command in ``pulse --help`` without importing it; the
    real command is imported when this one is run (:meth:`make_context`)."""

    def __init__(self, spec: _Spec) -> None:
        super().__init__(spec.name, help=spec.help, rich_help_panel=PANEL)
        self._target = spec.target

    def load(self) -> Any:
        """The real command (typer's click object).

        Raises:
            ModuleNotFoundError: the server extra is not installed.
        """
        module, _, attribute = self._target.partition(":")
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            return typer.main.get_group(target)
        single = typer.Typer(add_completion=False)
        single.command(name=self.name)(target)
        return typer.main.get_command(single)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None,
                     **extra: Any) -> Any:
        # The group calls this to run the command: from here on the real one parses
        # the arguments (its own --help included) and runs.
        return self.load().make_context(info_name, args, parent=parent, **extra)


SERVER_COMMANDS = tuple(ServerCommand(spec) for spec in _SPECS)
_NAMES = frozenset(spec.name for spec in _SPECS)


def missing_extra(command: str | None, error: ModuleNotFoundError) -> str | None:
    """The one line to print when ``command`` failed on a module the server extra
    brings; None when it is not that (a client command, or Pulse's own module: a bug
    to show, not a package to install)."""
    missing = error.name or ""
    if command not in _NAMES or not missing or missing.split(".")[0] == "pulse_ray":
        return None
    return f"`pulse {command}` needs the server extra (no module {missing!r}): {INSTALL}"
