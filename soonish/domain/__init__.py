"""The rules, plain Python and models: never services, web, bots or temporal."""
