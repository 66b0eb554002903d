"""Deploys: command builders, output parsers, runners, the journal. No Textual here."""
