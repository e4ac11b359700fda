"""Stored cross-site scripting: what people type is shown escaped, never run.

Which text is typed comes from the forms themselves: every text field of every ModelForm in
the apps (walked, not listed) is filled with a payload on the records of the URL walk's world
(tests/portal/test_url_walk.py), then every page is read as an admin and an auditor. In HTML
no payload appears as a tag or a ``javascript:`` link; in a PDF it appears as the literal text
typed (had WeasyPrint read it as markup, the tag would have vanished from the text).
"""

import io
import re

import pytest
from django import forms
from django.db import models
from django.test import Client
from pypdf import PdfReader

import assessments.forms
import incidents.forms
import monitoring.forms
import people.forms
import registry.forms.ai_models
import registry.forms.use_cases
from tests.portal.test_url_walk import all_routes, fill, path_for, world  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

FORM_MODULES = (
    assessments.forms,
    incidents.forms,
    monitoring.forms,
    people.forms,
    registry.forms.ai_models,
    registry.forms.use_cases,
)
TAG = '"><img src=x onerror=alert(1)>'
SCRIPT = "<script>alert(2)</script>"
LINK = "javascript:alert(3)"


def model_form_text_fields() -> set[tuple[type[models.Model], str]]:
    """(model, field) for every free-text field a ModelForm in the apps lets people type."""
    found: set[tuple[type[models.Model], str]] = set()
    for module in FORM_MODULES:
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, forms.ModelForm)):
                continue
            meta = getattr(value, "Meta", None)
            model = getattr(meta, "model", None)
            if model is None:
                continue
            for name in value.base_fields:
                try:
                    field = model._meta.get_field(name)
                except Exception:  # a form-only field
                    continue
                plain_text = isinstance(field, models.CharField | models.TextField) and not (
                    isinstance(field, models.SlugField | models.EmailField | models.URLField)
                )
                if plain_text and not field.choices and not field.unique:
                    found.add((model, name))
    return found


def test_the_forms_have_text_fields_to_walk():
    fields = model_form_text_fields()
    assert len(fields) > 10, fields
    names = {f"{m._meta.label_lower}.{f}" for m, f in fields}
    assert "registry.usecase.purpose" in names


def _payload_for(field: models.Field, room: int = 0) -> str | None:
    """The longest payload the field holds with ``room`` characters to spare."""
    limit = (field.max_length or 10_000) - room
    for payload in (f"{TAG} {SCRIPT} {LINK}", TAG, SCRIPT):
        if len(payload) <= limit:
            return payload
    return None


def _unique_with_others(model: type[models.Model], name: str) -> bool:
    """Whether the field is one of several a unique constraint covers (a model's version)."""
    together = [
        *(c.fields for c in model._meta.constraints if isinstance(c, models.UniqueConstraint)),
        *model._meta.unique_together,
    ]
    return any(name in fields for fields in together)


@pytest.fixture
def poisoned(world):  # noqa: F811 (the fixture imported above)
    filled = []
    for model, name in sorted(model_form_text_fields(), key=lambda mf: str(mf)):
        field = model._meta.get_field(name)
        payload = _payload_for(field)
        if payload is None:
            continue
        # Straight into the rows, as a form would have saved it (the triggers that keep
        # history append-only do not guard the live tables).
        if _unique_with_others(model, name):
            # Two rows may not share the value (two versions of one model): each row's payload
            # ends with its id, still short enough for the field.
            for pk in model.objects.values_list("pk", flat=True):
                suffix = f" {pk}"
                text = _payload_for(field, room=len(suffix))
                assert text is not None, f"{model._meta.label_lower}.{name}"
                model.objects.filter(pk=pk).update(**{name: text + suffix})
        else:
            model.objects.all().update(**{name: payload})
        filled.append(f"{model._meta.label_lower}.{name}")
    assert filled
    return world


UNESCAPED = [
    re.compile(r"<img src=x onerror=alert\(1\)>"),
    re.compile(r"<script>alert\(2\)</script>"),
    re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE),
]


@pytest.mark.parametrize("persona", ["admin", "auditor"])
def test_no_page_runs_what_was_typed(poisoned, personas, persona):
    client = Client()
    client.force_login(personas[persona])
    shown_escaped = 0
    wrong = []
    pdfs = []
    for route in all_routes():
        kwargs, _ = fill(route, poisoned)
        path = path_for(route, kwargs)
        response = client.get(path)
        kind = response.get("Content-Type", "")
        if response.status_code >= 500:
            wrong.append(f"{path}: {response.status_code}")
        if response.status_code != 200:
            continue
        if kind.startswith("application/pdf"):
            pdfs.append((path, response.content))
            continue
        if not kind.startswith("text/html"):
            continue
        html = response.content.decode()
        for pattern in UNESCAPED:
            if pattern.search(html):
                wrong.append(f"{path}: {pattern.pattern}")
        shown_escaped += html.count("&lt;img src=x onerror=alert(1)&gt;")
    assert not wrong, "\n".join(wrong)
    assert shown_escaped > 0  # the payload was on the pages, escaped
    assert pdfs, "no PDF was read"
    printed = []
    for path, content in pdfs:
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
        # Had WeasyPrint read the payload as markup, the tag (and its onerror) would be gone
        # from the text; printed as typed, it is there, and a PDF runs no script anyway.
        if "onerror=alert(1)" in text.replace("\n", ""):
            printed.append(path)
    assert printed, [path for path, _ in pdfs]
