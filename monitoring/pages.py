"""Where apps above monitoring add to its pages (portal/panels.py)."""

from portal.panels import Panels

# Cards of a flag's page (incidents: open an incident from the flag).
flag_panels = Panels("flag page")
