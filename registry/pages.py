"""Where apps above the registry add to its pages (portal/panels.py)."""

from portal.panels import Panels

# Cards of the use-case page: the registry's own models card (order 20) and those of
# assessments (10), monitoring (30) and incidents (40).
use_case_panels = Panels("use-case page")
