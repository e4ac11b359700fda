"""Who may do what on the dashboard, written once (docs/adr/0001).

Every signed-in person may open the portfolio: its figures cover only the use cases they may
see. Taking a KPI snapshot on demand is for leadership, risk officers and admins. Board
packs: below.
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


@rules.predicate
def _leads(user) -> bool:
    access = access_for(user)
    return access.is_admin or access.has_role(Role.LEADERSHIP)


@rules.predicate
def _reads_board_packs(user) -> bool:
    access = access_for(user)
    return access.reads_everything or access.has_role(Role.LEADERSHIP, Role.RISK_OFFICER)


@rules.predicate
def _unsigned(user, pack) -> bool:
    return pack is None or not pack.is_signed


# A board pack is a firm-wide document: leadership (and admins) make and sign it; risk
# officers and auditors read it.
rules.add_perm("dashboard.view_board_pack", _reads_board_packs)
rules.add_perm("dashboard.add_board_pack", _leads)
rules.add_perm("dashboard.sign_board_pack", _leads & _unsigned)
