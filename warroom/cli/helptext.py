"""Command help as people read it: a docstring's paragraphs reflowed to the terminal's width.

Typer's rich help reflows only a docstring's first paragraph; the later ones keep the source's line
breaks, so a sentence wrapped at 110 columns in the code broke mid-line in every terminal. Here each
paragraph becomes one line before Typer sees it, except lines that are meant to stand alone: list
items ("- ", "* "), indented lines (examples, tables) and "Example:" lines.
"""

from __future__ import annotations

import inspect
import re

import typer

_STANDS_ALONE = re.compile(r"^(\s+\S|[-*] |\d+\. |Example:)")


def reflowed(doc: str) -> str:
    """`doc` with each paragraph's wrapped lines joined; paragraphs and standalone lines kept."""
    paragraphs = []
    for paragraph in inspect.cleandoc(doc).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.split("\n"):
            if lines and line.strip() and not _STANDS_ALONE.match(line) and not _STANDS_ALONE.match(lines[-1]):
                lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
            else:
                lines.append(line.rstrip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def reflow_help(app: typer.Typer) -> None:
    """Reflow the help of every command of `app` and of its sub-apps, in place."""
    for command in app.registered_commands:
        doc = command.help or (inspect.getdoc(command.callback) if command.callback else None)
        if doc:
            command.help = reflowed(doc)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)
