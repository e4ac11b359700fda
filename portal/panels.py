"""Cards that apps above contribute to a page of an app below.

The use-case page is the registry's, but what it shows of assessments, monitoring and
incidents belongs to those apps, which sit above the registry and may not be imported by it.
Each registers a panel at start-up (its hooks.py, from AppConfig.ready), as Django's admin
registers models: a template to include and a function that adds what the template reads to
the page's context. A page asks every panel of its ``Panels`` in ``order``; a later panel may
read what an earlier one added (monitoring reads the deployments the models card lists).
"""

from collections.abc import Callable
from dataclasses import dataclass

PanelContext = Callable[..., dict]  # (user, record, context so far) -> what the template reads


@dataclass(frozen=True)
class Panel:
    template: str
    context: PanelContext
    order: int
    # Relations of the record the panel reads, joined when the page fetches the record.
    select_related: tuple[str, ...] = ()


class Panels:
    """The panels of one page, e.g. ``registry.pages.use_case_panels``."""

    def __init__(self, page: str):
        self.page = page
        self._panels: dict[str, Panel] = {}

    def register(
        self,
        template: str,
        context: PanelContext,
        *,
        order: int,
        select_related: tuple[str, ...] = (),
    ) -> None:
        self._panels[template] = Panel(template, context, order, select_related)

    def relations(self) -> list[str]:
        """The record's relations every panel reads, to fetch in the page's one query."""
        return sorted({name for panel in self._panels.values() for name in panel.select_related})

    def render(self, user, record, context: dict) -> list[str]:
        """Add every panel's context to ``context``; the templates to include, in order."""
        templates = []
        for panel in sorted(self._panels.values(), key=lambda p: p.order):
            context.update(panel.context(user, record, context))
            templates.append(panel.template)
        return templates

    def __repr__(self) -> str:
        return f"<Panels of the {self.page}: {', '.join(self._panels) or 'none'}>"
