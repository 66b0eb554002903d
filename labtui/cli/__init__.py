"""The command-line face of labtui: one module per verb, each a thin layer over the core."""
