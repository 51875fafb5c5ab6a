"""Labelled IT requests the team classifier is trained on (package data; see docs/TRIAGE_LABELLING.md)."""
