"""The page's own scripts and stylesheet without their comments and layout, made once at
start-up (issue 19: the first visit has to stay under 50 kB, and the comments that explain the
code to its readers are a third of what a member's browser would download for nothing).

rJSmin and rCSSmin only drop comments and whitespace the grammar does not need: names,
strings, template literals and regular expressions are left as written, so what runs is the
code as reviewed. Files already minified upstream (`*.min.js`, the vendored Socket.IO client)
are served as they come. The repository keeps the readable sources; nothing generated is
written to disk.
"""

from __future__ import annotations

from collections.abc import Callable

import rcssmin
import rjsmin

# both untyped: str in, str out
minify_js: Callable[[str], str] = rjsmin.jsmin
minify_css: Callable[[str], str] = rcssmin.cssmin


def minify(path: str, body: bytes) -> bytes:
    """The body served for the static file at `path`: minified if it is ours and JS or CSS."""
    if path.endswith(".min.js"):
        return body
    if path.endswith(".js"):
        return minify_js(body.decode()).encode()
    if path.endswith(".css"):
        return minify_css(body.decode()).encode()
    return body
