"""CSV downloads, streamed, with cells that spreadsheets would run as formulas defused."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """Stop spreadsheet programs running a cell that someone typed as a formula."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def unsafe_cell(value: str) -> str:
    """Undo ``safe_cell`` when a downloaded file is uploaded again."""
    if value[:1] == "'" and value[1:2] in FORMULA_STARTS and value[1:2]:
        return value[1:]
    return value


class _Echo:
    def write(self, value):
        return value


def stream_csv(filename: str, header: list[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """A CSV download streamed row by row.

    The first row is read before the response starts, so an export that cannot be read fails
    as the error it is (a 500 the logs explain), never as a 200 holding only the header. A
    failure later on breaks off the stream: the download ends without the closing chunk, which
    browsers and HTTP clients report as failed, rather than a short file that looks whole.
    """
    writer = csv.writer(_Echo())
    rows = iter(rows)
    first = next(rows, None)

    def stream():
        yield writer.writerow(header)
        if first is None:
            return
        yield writer.writerow([safe_cell(value) for value in first])
        for row in rows:
            yield writer.writerow([safe_cell(value) for value in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
