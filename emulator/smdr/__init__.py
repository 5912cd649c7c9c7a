"""SMDR call records: the format, the live feed, and replaying a site's history."""
