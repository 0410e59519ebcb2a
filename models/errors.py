"""Exceptions the model layer raises for requests a caller can fix; the UI shows their messages as-is."""


class InvalidRequestError(ValueError):
    """A request the caller can fix (bad seed, count, psi, class, steps, image)."""


SHOWN_LENGTH = 40


def shown(value: object) -> str:
    """A caller's value for an error message: its repr, cut short (a seed of 1e308 is not echoed in full)."""
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"
