"""ipo-emu: an emulator of Avaya IP Office control units that enforces their licenses."""

__version__ = "0.1.0"
