"""Domain rules: plain Python over the models; imports nothing of services, web, bots or temporal."""
