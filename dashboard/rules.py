"""Who may do what on the dashboard, written once (docs/adr/0001).

Every signed-in person may open the portfolio: its figures cover only the use cases they may
see. Taking a KPI snapshot on demand is for leadership, risk officers and admins.
"""

import rules

from portal.access import access_for
from portal.models import Role


@rules.predicate
def _keeps_the_kpis(user) -> bool:
    access = access_for(user)
    return access.is_admin or access.has_role(Role.LEADERSHIP, Role.RISK_OFFICER)


rules.add_perm("dashboard.view_portfolio", rules.is_authenticated)
rules.add_perm("dashboard.take_kpi_snapshot", _keeps_the_kpis)
