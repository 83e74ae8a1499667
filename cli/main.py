"""``shapealg`` command line: one module per command, each composing the library in a few lines."""
from __future__ import annotations

import click

from .analyze import analyze_command
from .check import check
from .common import Group
from .cost import cost
from .export import export
from .profile import profile_command
from .validate import validate


@click.group(cls=Group)
@click.version_option(package_name="shapealg")
def main():
    """shapealg: exact shape, parameter and cost formulas of a model, as functions of its input size,
    and the input sizes it can run at."""


for _cmd in (analyze_command, check, validate, cost, export, profile_command):
    main.add_command(_cmd)

if __name__ == "__main__":  # pragma: no cover
    main()
