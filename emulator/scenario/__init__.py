"""Scenario files: the format, loading, playback, reports, sizing."""
