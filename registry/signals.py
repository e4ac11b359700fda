"""What the registry announces to the apps above it.

``ai_switched`` is sent, inside the transaction that made the change, when a use case's AI is
switched off or on: the kill switch moved, or a lifecycle move (suspend, resume, retire)
changed ``UseCase.ai_enabled``. Arguments: ``actor``, ``use_case`` and ``reason``. Incidents
connects to it to tell deployed systems by signed webhook once the change commits.
"""

from django.dispatch import Signal

ai_switched = Signal()
