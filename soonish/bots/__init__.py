"""Chat bots: platform adapters over one command core."""
