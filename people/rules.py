"""Who may manage people and business units, written once (docs/adr/0001).

Only admins manage people: invite them, give roles and units, deactivate and reactivate.
Admins and auditors read a person's history (the audit log is theirs too).
"""

import rules

from registry.rules import is_admin, reads_everything

rules.add_perm("people.manage", is_admin)
rules.add_perm("people.view_person", reads_everything)
