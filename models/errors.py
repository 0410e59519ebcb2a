"""Exceptions the model layer raises for requests a caller can fix; the UI shows their messages as-is."""


class InvalidRequestError(ValueError):
    """A request the caller can fix (bad seed, count, psi, class, steps, image)."""


SHOWN_LENGTH = 40  # characters of a caller's value echoed in a message
MESSAGE_LENGTH = 200  # characters of a message that may echo one (Python's, Gradio's)


def cut(message: str, length: int = MESSAGE_LENGTH) -> str:
    """A message that may echo a caller's value (Python's, Gradio's), cut to `length` characters."""
    return message if len(message) <= length else message[: length - 1] + "…"


def shown(value: object) -> str:
    """A caller's value for an error message: its repr, cut short (a seed of 1e308 is not echoed in full)."""
    try:
        text = repr(value)
    except ValueError:  # an integer past Python's limit on digits it writes out
        return f"a whole number of about {int(value.bit_length() * 0.30103)} digits"
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"
