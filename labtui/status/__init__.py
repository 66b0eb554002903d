"""Live fleet status: the probe script, its parser, derived states, and the poller."""
