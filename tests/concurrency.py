"""Running the same thing in several threads at once, as parallel requests or workers would."""

import threading

from django.db import connections


def run_together(target, n=2):
    """Run ``target`` in n threads released at the same instant, each on its own connection;
    what each returned (in the order they finished). Any exception fails the test."""
    start = threading.Barrier(n)
    results, failures = [], []

    def run():
        try:
            start.wait()
            results.append(target())
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures
    return results
