"""Words typed into a search box, matched against records one way everywhere.

On PostgreSQL a record matches when every word typed is the start of a word in its document
(full-text search: ``to_tsvector`` of its text fields against a prefix ``tsquery``, so
"scor" finds "scoring" and "scores"), or when its reference contains what was typed ("0042"
finds UC-0042). Both are answered from GIN indexes that the search app's migration creates:
one on exactly the ``document()`` expression below, one trigram index (pg_trgm) on
``UPPER(reference)``, the form Django's ``icontains`` takes. An expression index is used only
when the query spells the same expression, so the query and the migration both build it here.

On SQLite (the one-command laptop set-up) every word must appear in one of the fields
(``icontains``): a sequential scan, which is fine at a laptop's size.

Nothing typed reaches SQL as syntax: the words are ``\\w+`` runs, quoted by ``to_tsquery``'s
own rules, and the LIKE pattern is escaped by Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Q, QuerySet

# 'simple' keeps every word as typed (lower-cased), in any language: names, acronyms and
# product words ("chatbot", "CVs") matter more here than English stemming.
CONFIG = "simple"
MIN_LENGTH = 2  # fewer characters than this find too much to be useful
MAX_LENGTH = 200  # longer is not a search; the rest is ignored and the person told
MAX_WORDS = 8
WORD = re.compile(r"\w+", re.UNICODE)
# Characters PostgreSQL refuses in text (NUL) and other controls that no record contains.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Terms:
    """What was typed, made safe: the text (for references and highlighting) and its words."""

    text: str
    words: tuple[str, ...]
    problem: str = ""  # why nothing is searched, said to the person
    shortened: bool = False  # the text was cut to MAX_LENGTH

    def __bool__(self) -> bool:
        return not self.problem


def parse(raw: str | None) -> Terms:
    """The search terms in ``raw``, or a Terms whose ``problem`` says why there are none."""
    text = " ".join(CONTROL.sub(" ", raw or "").split())
    shortened = len(text) > MAX_LENGTH
    text = text[:MAX_LENGTH].strip()
    words = tuple(dict.fromkeys(w.lower() for w in WORD.findall(text)))[:MAX_WORDS]
    if not text:
        return Terms("", (), "Type a word to search for.")
    if len(text) < MIN_LENGTH or not words:
        return Terms(
            text,
            words,
            f"Type at least {MIN_LENGTH} letters or digits to search for.",
        )
    return Terms(text, words, shortened=shortened)


def document(*fields: str) -> SearchVector:
    """A record's searchable text; the same expression the GIN index is built on."""
    return SearchVector(*fields, config=CONFIG)


def prefix_query(words: tuple[str, ...]) -> SearchQuery:
    """Every word as the start of a word: 'fraud:* & scor:*'. The words are \\w+ runs, so
    nothing in them is tsquery syntax; each is quoted all the same."""
    raw = " & ".join("'" + w.replace("'", "") + "':*" for w in words)
    return SearchQuery(raw, search_type="raw", config=CONFIG)


def uses_full_text() -> bool:
    return connection.vendor == "postgresql"


def matching(
    qs: QuerySet,
    terms: Terms,
    *,
    fields: tuple[str, ...],
    reference: str | None = "reference",
) -> QuerySet:
    """Rows of ``qs`` that match ``terms`` in ``fields`` or in their reference."""
    if not terms:
        return qs.none()
    condition = Q()
    if uses_full_text():
        if fields:
            # An alias, not an annotation: the document is matched, never selected.
            qs = qs.alias(search_document=document(*fields))
            condition |= Q(search_document=prefix_query(terms.words))
    elif fields:
        for word in terms.words:
            condition &= _any_contains(fields, word)
    if reference and len(terms.text) >= 3:  # trigrams need three characters
        condition |= Q(**{f"{reference}__icontains": terms.text})
    if not condition:
        return qs.none()
    return qs.filter(condition)


def _any_contains(fields: tuple[str, ...], word: str) -> Q:
    q = Q()
    for f in fields:
        q |= Q(**{f"{f}__icontains": word})
    return q
