"""External mode of `ipo-emu load`: served units driven and judged through the broker."""
