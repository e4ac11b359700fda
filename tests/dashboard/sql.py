"""What a query reads, from its SQL as Django writes it: the tables, and the columns of each
(tests/dashboard: every table a kept list or panel reads must be watched, and no column a
change to which logs nothing may be read)."""

import re

# A table named in FROM or JOIN, with the alias Django gives it in a subquery (U0) or a second
# join of the same table (T5), if any.
_TABLE = re.compile(r'(?:FROM|JOIN)\s+"(\w+)"(?:\s+([TUV]\d+))?')
_QUALIFIED = re.compile(r'(?:"(\w+)"|\b([TUV]\d+))\."(\w+)"')


def tables(sql: str) -> set[str]:
    return {table for table, _alias in _TABLE.findall(sql)}


def columns(sql: str) -> set[tuple[str, str]]:
    """Every (table, column) the query names, through an alias or not."""
    aliases = {alias: table for table, alias in _TABLE.findall(sql) if alias}
    return {
        (table or aliases.get(alias, alias), column)
        for table, alias, column in _QUALIFIED.findall(sql)
    }


def unread_columns_read(queries: list[str], unread: dict[str, tuple[str, ...]]) -> set:
    """The columns of ``unread`` (by table) that the queries read."""
    read = set().union(*(columns(sql) for sql in queries)) if queries else set()
    return {(t, c) for t, cs in unread.items() for c in cs if (t, c) in read}
