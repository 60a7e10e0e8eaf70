"""The domain: Soonish's rules, plain Python over the models, testable with a database alone.
One module (or subpackage) per feature; ``delivery`` delivers and nothing else. The domain never
imports services, web, bots or temporal (tests/test_layers.py)."""
