"""axe-core (npm devDependency, pinned in package-lock.json) run on what a page shows, in light
and dark mode. The tests inject it from node_modules through the DevTools protocol, which the
page's Content-Security-Policy does not govern; it is never served to members."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conftest import REPO

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SCHEMES = ("light", "dark")


def _source() -> str:
    if not AXE.exists():
        reason = f"{AXE.relative_to(REPO)} is missing: run `make setup` (npm ci installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return AXE.read_text(encoding="utf-8")


def violations(page: Any) -> list[str]:
    """axe's violations on the page as it is now, one line each."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_source())
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ['violations'] });
            return result.violations.map((v) =>
                `${v.id} (${v.impact}): ${v.help}; ` +
                v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.failureSummary || ''}`)
                    .join(' | '));
        }"""
    )
    return list(found)


def expect_accessible(page: Any, screen: str, *, themed: bool = True) -> None:
    """Zero axe violations on `screen` in light and in dark mode; a `themed` page (Hearth's
    stylesheet) really is dark in dark mode."""
    try:
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            found = violations(page)
            assert found == [], f"{screen}, {scheme} mode: " + "\n".join(found)
            if not themed:
                continue
            background = page.evaluate(
                """() => {
                    const [r, g, b] = getComputedStyle(document.body).backgroundColor
                        .match(/\\d+/g).map(Number);
                    return (r + g + b) / 3;
                }"""
            )
            assert (background < 60) == (scheme == "dark"), f"{screen}: {scheme} mode not applied"
    finally:
        page.emulate_media(color_scheme="light")
