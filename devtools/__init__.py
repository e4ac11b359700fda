"""Demo seeding and benchmarks: `manage.py seed_demo` and `manage.py bench`.

It sits above every domain app and imports from all of them; none imports from it.
"""
