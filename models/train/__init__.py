"""Training loops: `python -m models.train {classifier,gan} ...`."""
