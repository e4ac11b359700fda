"""The history of every governed record: the pages, the exports and the catalogue behind them.

Each app registers its governed models at start-up (its AppConfig.ready) with
``portal.history.tracked.register``; the history pages, CSV, audit log and API read that
catalogue, so the kernel never imports the apps above it.
"""
