"""The rules, plain Python and models: testable with a database alone (docs/architecture)."""
