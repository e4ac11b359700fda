"""Two versions of an assessment side by side, question by question."""

from dataclasses import dataclass

from assessments import engine
from assessments.models import Assessment


@dataclass(frozen=True)
class Row:
    section: str
    key: str
    label: str
    left: str
    right: str

    @property
    def changed(self) -> bool:
        return self.left != self.right

    def as_dict(self) -> dict:
        return {
            "section": self.section,
            "question": self.key,
            "label": self.label,
            "left": self.left,
            "right": self.right,
            "changed": self.changed,
        }


def compare(left: Assessment, right: Assessment) -> list[Row]:
    """Every question either version asks, in the newer template's order, then the rest."""
    rows: list[Row] = []
    seen: set[str] = set()
    lq = engine.question_map(left.definition)
    rq = engine.question_map(right.definition)
    sections = {
        s["key"]: s["title"]
        for d in (left.definition, right.definition)
        for s in d.get("sections", [])
    }
    for q in engine.questions(right.definition) + engine.questions(left.definition):
        if q.key in seen:
            continue
        seen.add(q.key)
        rows.append(
            Row(
                section=sections.get(q.section, q.section),
                key=q.key,
                label=q.label,
                left=engine.display_answer(lq[q.key], left.answers.get(q.key))
                if q.key in lq
                else "",
                right=engine.display_answer(rq[q.key], right.answers.get(q.key))
                if q.key in rq
                else "",
            )
        )
    return rows


def result_rows(left: Assessment, right: Assessment) -> list[Row]:
    """The outcome and each score, as rows of the same shape."""
    rows = [Row("Result", "result", "Result", left.result_label, right.result_label)]
    lscores = (left.result or {}).get("scores", {})
    rscores = (right.result or {}).get("scores", {})
    for key in dict.fromkeys([*rscores, *lscores]):
        label = (rscores.get(key) or lscores.get(key))["label"]
        rows.append(
            Row(
                "Result",
                f"score:{key}",
                label,
                _score(lscores.get(key)),
                _score(rscores.get(key)),
            )
        )
    return rows


def _score(entry: dict | None) -> str:
    return f"{entry['value']} of {entry['max']} ({entry['share']}%)" if entry else ""
