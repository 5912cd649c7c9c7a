"""Devices around an emulated control unit: feature keys now, VCM modules and dongles later."""
