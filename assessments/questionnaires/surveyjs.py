"""Reading a SurveyJS survey file: names, texts and ``visibleIf`` conditions, as template parts.

Used by the converters of published questionnaires built on SurveyJS (Canada's AIA). What
cannot be read faithfully raises ConversionError (or ValueError inside a condition), never a
guess: a condition read wrongly would show or hide questions the official tool does not.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any


class ConversionError(ValueError):
    """A source file this converter cannot turn into an equivalent template."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def question_key(name: str) -> str:
    """A SurveyJS name as a template key: ``projectDetailsDepartment-NS`` →
    ``project_details_department_ns``."""
    key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    key = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")
    if not key or not key[0].isalpha():
        key = f"q_{key}"
    return key[:64]


def js_number(text: str) -> float:
    text = text.strip()
    if not text:
        return 0.0
    try:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
            return float(int(text, 16))
        if re.fullmatch(r"0[oO][0-7]+", text):
            return float(int(text, 8))
        if re.fullmatch(r"0[bB][01]+", text):
            return float(int(text, 2))
        if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?Infinity", text):
            number = float(text.replace("Infinity", "inf"))
            return number if math.isfinite(number) else math.nan
    except ValueError:
        pass
    return 0.0


def plain_text(value: Any, lang: str) -> str:
    """A SurveyJS text ({"default": …, "fr": …} or a string) without its markup: a link keeps
    its address in brackets, a heading or paragraph ends a line."""
    if isinstance(value, dict):
        chosen = value.get("default" if lang == "en" else lang) or value.get("default") or ""
    else:
        chosen = value or ""
    text = str(chosen)
    text = re.sub(
        r"<a\s[^>]*href=['\"]([^'\"]+)['\"][^>]*>(.*?)</a>",
        lambda m: f"{m.group(2)} ({m.group(1)})",
        text,
        flags=re.S | re.I,
    )
    text = re.sub(r"</(h\d|p|div|li)>|<br\s*/?>", "\n", text, flags=re.I)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text).replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


# Conditions ----------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(?:(?P<name>\{[^}]+\})|(?P<string>\"[^\"]*\"|'[^']*')|(?P<list>\[[^\]]*\])"
    r"|(?P<op>==|=|!=|<>|\(|\))|(?P<word>[A-Za-z]+))"
)
_WORD_OPS = ("contains", "notcontains", "anyof", "allof", "empty", "notempty", "and", "or")


def _tokens(expression: str) -> list[tuple[str, str]]:
    out, at = [], 0
    expression = expression.strip()
    while at < len(expression):
        match = _TOKEN.match(expression, at)
        if not match or match.end() == at:
            raise ValueError(f"cannot read {expression[at:]!r}")
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "word":
            text = text.lower()
            if text not in _WORD_OPS:
                raise ValueError(f"{text!r} is not an operator this converter knows")
        out.append((kind, text))
        at = match.end()
    return out


class ConditionReader:
    """SurveyJS ``visibleIf`` (``{q} = "v"``, ``contains``, ``anyof``, ``empty``, ``and``,
    ``or``, brackets) as a template condition over earlier questions."""

    def __init__(self, expression: str, known: dict[str, dict]):
        self.tokens = _tokens(expression)
        self.at = 0
        self.known = known  # SurveyJS name -> the template question made from it

    def read(self) -> dict:
        cond = self._or()
        if self.at != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.at][1]!r}")
        return cond

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ValueError("the condition ends too soon")
        self.at += 1
        return token

    def _or(self) -> dict:
        parts = [self._and()]
        while self._peek() == ("word", "or"):
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else {"any": parts}

    def _and(self) -> dict:
        parts = [self._term()]
        while self._peek() == ("word", "and"):
            self._take()
            parts.append(self._term())
        return parts[0] if len(parts) == 1 else {"all": parts}

    def _term(self) -> dict:
        kind, text = self._take()
        if (kind, text) == ("op", "("):
            inner = self._or()
            if self._take() != ("op", ")"):
                raise ValueError("a bracket is not closed")
            return inner
        if kind != "name":
            raise ValueError(f"expected a {{question}}, found {text!r}")
        name = text[1:-1].strip()
        if name not in self.known:
            raise ValueError(f"{{{name}}} is not an earlier question")
        question = self.known[name]
        kind, op = self._take()
        if kind not in ("op", "word") or op in ("(", ")", "and", "or"):
            raise ValueError(f"expected a comparison after {{{name}}}, found {op!r}")
        if op in ("empty", "notempty"):
            return {"question": question["key"], "answered": op == "notempty"}
        kind, literal = self._take()
        if kind == "string":
            values = [literal[1:-1]]
        elif kind == "list":
            values = [a or b for a, b in re.findall(r"\"([^\"]*)\"|'([^']*)'", literal)]
        else:
            values = []
        if not values:
            raise ValueError(f"compare {{{name}}} with quoted values, not {literal!r}")
        return self._compare(question, op, values)

    def _compare(self, question: dict, op: str, values: list[str]) -> dict:
        key, multi = question["key"], question["type"] == "multi_choice"
        choices = [c["value"] for c in question.get("choices", [])]
        if op in ("=", "==", "!=", "<>"):
            if multi or len(values) != 1:
                raise ValueError(f"'{op}' on {key!r} compares a list; use contains")
            cond: dict = {"question": key, "equals": values[0]}
            return {"not": cond} if op in ("!=", "<>") else cond
        if op in ("contains", "notcontains", "allof", "anyof"):
            if multi:
                parts = [{"question": key, "includes": v} for v in values]
                if op == "anyof":
                    cond = parts[0] if len(parts) == 1 else {"any": parts}
                else:
                    cond = parts[0] if len(parts) == 1 else {"all": parts}
            elif op == "anyof" or (op == "allof" and len(values) == 1):
                cond = {"question": key, "in": values}
            elif choices and len(values) == 1:
                # SurveyJS's contains on a single answer is a substring test.
                matching = [c for c in choices if values[0] in c]
                if not matching:
                    raise ValueError(f"no choice of {key!r} contains {values[0]!r}")
                cond = {"question": key, "in": matching}
            else:
                raise ValueError(f"cannot convert {op!r} on {key!r}")
            if op == "notcontains":
                # SurveyJS: an empty answer neither contains nor "notcontains" anything.
                return {"all": [{"question": key, "answered": True}, {"not": cond}]}
            return cond
        raise ValueError(f"{op!r} is not a comparison this converter knows")


def both(first: dict | None, second: dict | None) -> dict | None:
    if first is None or second is None:
        return first or second
    return {"all": [first, second]}
