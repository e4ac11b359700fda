"""SQL written by hand around a row's own key, for the hot reads the ORM builds too slowly."""

from django.db.models import Expression, F


class AroundKey(Expression):
    """An expression whose SQL is written around one column of the row (its key, by default
    ``pk``), which stays an ORM expression so that the SQL holds wherever Django puts the
    query (under another alias in a subquery too). A subclass writes ``around``: the SQL and
    its parameters, given the key's compiled SQL.

    For a subquery per row that the ORM's ``Subquery(... OuterRef(...))`` would build and
    compile on each request: written once, compiled in a few microseconds (issue 19)."""

    def __init__(self, output_field, key: str = "pk"):
        super().__init__(output_field=output_field)
        self.key = F(key)

    def get_source_expressions(self):
        return [self.key]

    def set_source_expressions(self, exprs):
        [self.key] = exprs

    def around(self, key: str, connection) -> tuple[str, tuple]:
        raise NotImplementedError

    def as_sql(self, compiler, connection):
        key, params = compiler.compile(self.key)
        sql, more = self.around(key, connection)
        return sql, (*params, *more)
