"""Exceptions the model layer raises for requests a caller can fix; the UI shows their messages as-is."""


class InvalidRequestError(ValueError):
    """A request the caller can fix (bad seed, count, psi, class, steps, image)."""
