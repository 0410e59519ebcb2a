"""One module per tab; each exposes `build()` that creates its components and events."""
