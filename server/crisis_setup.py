"""The organisation's crisis resources at set-up: ``hearth init`` asks for them on a terminal,
and everything else (``hearth serve``, the console) says plainly while there are none.

Members in distress are who Hearth is for: without resources the page can only say "call your
local emergency number", so an empty ``safety.crisis_resources`` is never silent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from server.config import CrisisResource, SafetyConfig, check_web_url

MISSING_WARNING = (
    "safety.crisis_resources is empty in {file}: members see only 'call your local emergency "
    "number'. Add the crisis services that serve your members before they use Hearth."
)


def missing_resources_warning(safety: SafetyConfig, file: object) -> str | None:
    """The warning to show while no crisis resource is configured, else None."""
    return None if safety.crisis_resources else MISSING_WARNING.format(file=file)


class TerminalAnswers:
    """Lines typed on the terminal. End of input (Ctrl-D) answers that question and every later
    one with an empty line, which finishes the list."""

    def __init__(self) -> None:
        self.ended = False

    def __call__(self, prompt: str) -> str:
        if self.ended:
            return ""
        try:
            return input(prompt)
        except EOFError:
            self.ended = True
            print()
            return ""


def ask_crisis_resources(ask: Callable[[str], str], out: TextIO) -> tuple[CrisisResource, ...]:
    """Ask on a terminal for crisis services, one at a time, until an empty name."""
    out.write(
        "Crisis resources (required): the services your members can reach in a crisis, shown "
        "on every screen of the member page.\nEnter each one; leave the name empty to finish.\n"
    )
    resources: list[CrisisResource] = []
    while True:
        name = ask(f"Crisis service {len(resources) + 1}, name: ").strip()
        if not name:
            break
        phone = ask("  phone number (as people dial it, may be empty): ").strip()
        url = ask("  web address (https://..., may be empty): ").strip()
        while (problem := check_web_url(url)) is not None:
            url = ask(f"  expected {problem}; web address: ").strip()
        hours = ask("  opening hours (e.g. 24/7, may be empty): ").strip()
        resources.append(CrisisResource(name=name, phone=phone, url=url, hours=hours))
    if not resources:
        out.write(
            "No crisis resource entered: set safety.crisis_resources in the config before "
            "members use Hearth (the facilitator console warns until you do).\n"
        )
    return tuple(resources)
