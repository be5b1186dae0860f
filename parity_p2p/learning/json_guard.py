"""Guard untrusted JSON before ``json.loads``.

CPython's C scanner recurses once per nesting level. It usually stops with RecursionError, but in our test
run (pytest + hypothesis + torch loaded) 100,000 ``[`` crashed the interpreter with a segfault. So the depth
is measured first, without recursion, and deep documents are refused before parsing.
"""

from __future__ import annotations

import re

import numpy as np

MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not count)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    bare = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    if bare.size == 0:
        return 0
    steps = np.zeros(bare.size, dtype=np.int64)
    steps[(bare == ord("[")) | (bare == ord("{"))] = 1
    steps[(bare == ord("]")) | (bare == ord("}"))] = -1
    return int(max(0, np.cumsum(steps).max()))


def too_deep(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``text`` nests arrays or objects deeper than ``limit``."""
    return json_depth(text) > limit
