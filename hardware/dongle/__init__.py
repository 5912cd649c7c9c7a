"""The feature-key dongle line protocol (sans-IO codec) and the reference dongle."""
