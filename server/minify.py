"""The page's stylesheet without its comments and layout, made once at start-up (issue 19: the
first visit has to stay under 50 kB). rCSSmin drops only what the grammar does not need.

Scripts are not minified here: rJSmin, the well-kept Python minifier, treats a template literal
nested in another one's `${…}` as code and squeezes its spaces (`${name} (session)` became
`${name}(session)` in sessions.js's calendar export, which tests/browser/test_sessions_js.py
caught). The member page's scripts are minified by esbuild, which parses them, when it bundles
them (server/bundles.py); every other script is served as written. The repository keeps the
readable sources; nothing generated is written to disk.
"""

from __future__ import annotations

from collections.abc import Callable

import rcssmin

# untyped: str in, str out
minify_css: Callable[[str], str] = rcssmin.cssmin


def minify(path: str, body: bytes) -> bytes:
    """The body served for the static file at `path`: minified if it is a stylesheet."""
    if path.endswith(".css"):
        return minify_css(body.decode()).encode()
    return body
