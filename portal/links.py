"""Links to records' pages at the cost of one ``reverse`` per kind of page, not one per record.

A list of fifty assessments links each to its page; reversed one by one, the links cost about
20 µs each (the dashboard builds some ninety a request). Here each kind of page is reversed
once with a marker in place of the record's key, a marker of the same kind as the key (digits,
or a word), and each key is put in its marker's place. A page whose pattern refuses the marker
(an ``<int:>`` key given a reference) is reversed as before, and so refuses the key as
``reverse`` does. Kept by URL configuration and script prefix, which may differ between
requests (a site served under a path). A key that is not plain letters, digits, ``-`` or
``_`` is reversed as before, so that it is quoted as ``reverse`` quotes it. (The project's
URLs are all ``path()`` with the built-in converters, which accept any key their marker is
of the kind of: tests/portal/test_links.py walks them.)
"""

import re

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

# Keys no record has, that the converters accept: every one (digits), all but <int:> (a word
# of every character a plain key may hold: a pattern that accepts it accepts any such key).
_DIGITS, _WORD = "987654321012", "ZQX-marker_9"
_PLAIN = re.compile(r"[A-Za-z0-9_-]+\Z")
# (view, key's kind, URL configuration, script prefix) -> what comes before and after the key,
# or None for a page that does not show such a key as it is given (or refuses it).
_AROUND: dict[tuple[str, str, str, str], tuple[str, str] | None] = {}


def link(viewname: str, key) -> str:
    """``reverse(viewname, args=[key])`` for a page with one key in its URL."""
    text = str(key)
    if not _PLAIN.match(text):
        return reverse(viewname, args=[key])
    marker = _DIGITS if text.isdigit() else _WORD
    where = (viewname, marker, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    if where not in _AROUND:
        try:
            head, found, tail = reverse(viewname, args=[marker]).rpartition(marker)
        except NoReverseMatch:
            found = ""
        _AROUND[where] = (head, tail) if found else None
    around = _AROUND[where]
    if around is None:
        return reverse(viewname, args=[key])
    return f"{around[0]}{text}{around[1]}"
