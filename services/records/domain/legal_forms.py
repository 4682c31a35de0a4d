"""cleanco's ``basename`` (Latin legal forms at the end of a company name), answer for answer, at
a fraction of its cost.

cleanco compares the name's last words with each of its ~900 legal forms in turn, in Python, for
every name: about half a millisecond, and a company name is keyed several times per import row
and per duplicate check. Here the forms are indexed by their last word, so only the forms that can
match the name's current last word are compared, in cleanco's own order (a removed suffix makes
the next word the last one, and the search goes on after the form that matched, as cleanco's loop
does). ``tests/records/test_import_speed.py`` checks it against cleanco on real-looking names.
"""

from __future__ import annotations

import bisect
import unicodedata

from cleanco.clean import prepare_default_terms, strip_punct, strip_tail
from cleanco.non_nfkd_map import NON_NFKD_MAP

_TERMS: list[tuple[int, list[str]]] = prepare_default_terms()
# last word of a form -> the positions in _TERMS of the forms ending with it, ascending
_BY_LAST: dict[str, list[int]] = {}
for _position, (_size, _parts) in enumerate(_TERMS):
    _BY_LAST.setdefault(_parts[-1], []).append(_position)


class _Accents(dict[int, str | None]):
    """cleanco's ``remove_accents`` as a ``str.translate`` table, filled as characters are met:
    combining marks (Mn) dropped, the letters NFKD leaves alone mapped by its ``NON_NFKD_MAP``."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        value = None if unicodedata.category(char) == "Mn" else NON_NFKD_MAP.get(char, char)
        self[code] = value
        return value


_ACCENTS = _Accents()


def normalized(text: str) -> str:
    """``cleanco.clean.normalized``: ASCII only needs lower case (NFKD and the marks change nothing)."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text.casefold()).translate(_ACCENTS)


def basename(name: str) -> str:
    """``cleanco.basename(name)`` (suffixes only, its default)."""
    name = strip_tail(name)
    nparts = name.split()
    nnparts = [strip_punct(p) for p in normalized(name).split()]
    position = 0  # cleanco's loop index: forms before it were tried already
    while nnparts:
        candidates = _BY_LAST.get(nnparts[-1])
        if not candidates:
            break
        at = bisect.bisect_left(candidates, position)
        matched = False
        for index in candidates[at:]:
            size, parts = _TERMS[index]
            if nnparts[-size:] == parts:
                del nnparts[-size:]
                del nparts[-size:]
                position = index + 1
                matched = True
                break
        if not matched:
            break
    return strip_tail(" ".join(nparts))
