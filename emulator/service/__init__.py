"""Live units: `ipo-emu serve` runs units on the wall clock and talks to other systems over
MQTT (docs/mqtt.md). The asyncio shell around the runtime; the rules never see a broker."""
