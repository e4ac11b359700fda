"""What the registry announces to the apps above it.

``ai_switched`` is sent, inside the transaction that made the change, when a use case's AI is
switched off or on: the kill switch moved, or a lifecycle move (suspend, resume, retire)
changed ``UseCase.ai_enabled``. Arguments: ``actor``, ``use_case`` and ``reason``. Incidents
connects to it to tell deployed systems by signed webhook once the change commits.

``model_version_stage_changed`` is sent, inside the transaction, when a model version's
release stage moves (the promote action, or the internal path seeding and imports use).
Arguments: ``model_version``, ``old_stage``, ``new_stage`` and ``actor`` (None when the
system moved it). Monitoring's material-change rules connect to it.
"""

from django.dispatch import Signal

ai_switched = Signal()
model_version_stage_changed = Signal()
