"""The search itself: each source's matches among what the person may see, one query each.

A page of results is the first ``limit`` hits of each kind, newest first (a reference typed
in full comes first); one more row than shown is read so the page can offer "more" without
counting every match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, Case, F, Func, IntegerField, Q, Value, When
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from portal import textsearch
from portal.textsearch import Terms
from registry.models import UseCase
from search.sources import SOURCES, USE_CASE_FIELDS, Source

PER_KIND = 5  # on the overview, per kind
PAGE = 50  # when one kind is listed on its own
SNIPPET = 160  # characters of a hit's longer text shown around the first match


@dataclass
class Hit:
    reference: str
    title: str
    url: str
    facts: list[str]
    title_html: SafeString
    snippet_html: SafeString
    snippet: str


@dataclass
class Group:
    source: Source
    hits: list[Hit] = field(default_factory=list)
    more: bool = False  # more hits than shown
    more_url: str = ""  # set by the page: where the rest are listed

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def label(self) -> str:
        return self.source.label


def search(
    user, terms: Terms, *, sources: tuple[Source, ...] = SOURCES, limit: int = PER_KIND, page=1
) -> list[Group]:
    """Each source's hits among what ``user`` may see, in SOURCES order."""
    if not terms:
        return []
    start = (page - 1) * limit
    groups = []
    for source in sources:
        rows = list(_matches(source, user, terms)[start : start + limit + 1])
        group = Group(source, more=len(rows) > limit)
        group.hits = [_hit(source, row, terms) for row in rows[:limit]]
        groups.append(group)
    return groups


def matches(source: Source, user, terms: Terms):
    """The queryset of ``source``'s hits for ``user``, ordered; for tests and the benchmark."""
    return _matches(source, user, terms)


def _matches(source: Source, user, terms: Terms):
    qs = source.queryset(user)
    if not terms:
        return qs.none()
    if source.through_use_case and textsearch.uses_full_text():
        qs = qs.filter(_through_use_case(source.through_use_case, source.reference, terms))
    elif source.through_use_case:
        # SQLite: the matching use cases' records and the records matching themselves.
        rows = qs.model._default_manager.order_by()
        use_cases = textsearch.matching(UseCase.objects.all(), terms, fields=USE_CASE_FIELDS)
        via_use_case = rows.filter(
            **{f"{source.through_use_case}__in": use_cases.order_by().values("pk")}
        )
        own = textsearch.matching(rows, terms, fields=source.fields, reference=source.reference)
        qs = qs.filter(pk__in=via_use_case.values("pk").union(own.values("pk")))
    else:
        qs = textsearch.matching(qs, terms, fields=source.fields, reference=source.reference)
    if source.reference:
        # The record whose reference was typed in full comes first.
        exact = Case(
            When(**{f"{source.reference}__iexact": terms.text}, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
        qs = qs.alias(exact_reference=exact).order_by("exact_reference", *source.order)
    return qs


class _EqualsAny(Func):
    """``column = ANY(array)``: true when the column's value is one of the array's."""

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra):
        column, array = self.get_source_expressions()
        column_sql, column_params = compiler.compile(column)
        array_sql, array_params = compiler.compile(array)
        return f"{column_sql} = ANY({array_sql})", (*column_params, *array_params)


def _through_use_case(use_case: str, reference: str | None, terms: Terms) -> Q:
    """On PostgreSQL: the record's use case (the foreign key ``use_case``) matches, or its own
    ``reference`` does.

    The matching use cases are read once from their search indexes as an array
    (``use_case_id = ANY(ARRAY(SELECT ...))``, an InitPlan), and the records of those use cases
    found along the foreign key's index. Asked as ``use_case_id IN (SELECT ...)``, PostgreSQL
    may merge-join the use cases in key order instead, building each one's full-text document
    as it goes (100,000 of them for a word that matches nothing: 2 s); an array cannot be
    joined that way, so the search indexes serve whatever the statistics say.
    """
    use_cases = textsearch.matching(
        UseCase.objects.order_by(), terms, fields=USE_CASE_FIELDS
    ).values("pk")
    condition = Q(_EqualsAny(F(use_case), ArraySubquery(use_cases)))
    if reference and len(terms.text) >= 3:  # as in textsearch.matching: trigrams need three
        condition |= Q(**{f"{reference}__icontains": terms.text})
    return condition


def _hit(source: Source, obj, terms: Terms) -> Hit:
    title = source.title(obj)
    summary = source.summary(obj) or ""
    reference = getattr(obj, source.reference) if source.reference else ""
    snippet = _snippet(summary, terms)
    return Hit(
        reference=reference,
        title=title,
        url=obj.get_absolute_url(),
        facts=[f for f in source.facts(obj) if f],
        title_html=highlight(f"{reference} {title}".strip(), terms),
        snippet_html=highlight(snippet, terms),
        snippet=snippet,
    )


def _pattern(terms: Terms) -> re.Pattern:
    # Words match at the start of a word, as the full-text search does; the whole text also
    # matches anywhere (a reference).
    parts = [re.escape(terms.text)] + [r"\b" + re.escape(w) for w in terms.words]
    return re.compile("|".join(sorted(parts, key=len, reverse=True)), re.IGNORECASE)


def _snippet(text: str, terms: Terms) -> str:
    text = " ".join(text.split())
    if len(text) <= SNIPPET:
        return text
    found = _pattern(terms).search(text)
    start = max(0, (found.start() if found else 0) - SNIPPET // 3)
    piece = text[start : start + SNIPPET]
    return ("…" if start else "") + piece + ("…" if start + SNIPPET < len(text) else "")


def highlight(text: str, terms: Terms) -> SafeString:
    """``text`` escaped, with what matched the terms in <mark>: the text is split on the
    matches first and each piece escaped, so nothing typed or stored becomes markup."""
    out: list[str] = []
    last = 0
    for m in _pattern(terms).finditer(text):
        if m.end() == m.start():
            continue
        out.append(escape(text[last : m.start()]))
        out.append(f"<mark>{escape(m.group())}</mark>")
        last = m.end()
    out.append(escape(text[last:]))
    return mark_safe("".join(out))  # noqa: S308 - every piece escaped above
