"""Every date picker shows the date it holds. A browser's date input takes only ISO dates: a
value written in the locale's format (01/11/2026 under en-gb) showed as an empty field, and a
leader who just pressed "Make it" on the board packs was told the dates were required. Walks
every form class the apps define, not a hand list."""

import datetime
import importlib
import pkgutil
from pathlib import Path

from django import forms
from django.apps import apps

from portal.forms import HtmlDateInput

ROOT = Path(__file__).resolve().parents[2]


def _project_forms() -> list[type[forms.BaseForm]]:
    """Every form class of the project's apps: each app's modules imported, then the form
    classes' subclasses walked."""
    ours = [c for c in apps.get_app_configs() if Path(c.path).is_relative_to(ROOT)]
    for config in ours:
        for info in pkgutil.walk_packages([config.path], prefix=f"{config.name}."):
            skip = (".migrations", ".management", ".tests", "devtools.bench")
            if not any(part in info.name for part in skip):
                importlib.import_module(info.name)
    names = {c.name for c in ours}
    found, todo = [], [forms.BaseForm]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in names:
            found.append(cls)
    return found


def test_every_date_input_renders_an_iso_date():
    walked, wrong = 0, []
    for form in _project_forms():
        for name, field in getattr(form, "base_fields", {}).items():
            widget = field.widget
            if getattr(widget, "input_type", "") != "date":
                continue
            walked += 1
            html = widget.render(name, datetime.date(2026, 11, 1))
            if 'value="2026-11-01"' not in html:
                wrong.append(f"{form.__module__}.{form.__name__}.{name}: {html}")
    assert walked >= 10, f"only {walked} date inputs found: is the walk still finding the forms?"
    assert not wrong, "\n".join(wrong)


def test_the_shared_date_input_is_a_date_picker():
    html = HtmlDateInput().render("d", "2026-11-01")
    assert 'type="date"' in html and 'value="2026-11-01"' in html
