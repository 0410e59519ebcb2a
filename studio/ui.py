"""UI helpers shared by every tab: user-facing errors and the CSS that keeps small images crisp."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable

import gradio as gr

from models.loading import WeightFileError
from models.registry import UnknownModelError
from models.sampling import InvalidRequestError
from studio.pnginfo import NotAStudioPNGError

log = logging.getLogger(__name__)

USER_ERRORS = (InvalidRequestError, UnknownModelError, NotAStudioPNGError, WeightFileError)

# Browsers smooth upscaled images by default; model pixels should stay square.
CSS = """
.crisp img, .crisp canvas { image-rendering: pixelated; image-rendering: crisp-edges; }
"""


def user_errors(fn: Callable) -> Callable:
    """Turn the model layer's precise exceptions into a gr.Error a person can read (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as error:
            raise gr.Error(str(error), print_exception=False) from error
        except (TypeError, ValueError) as error:
            log.exception("bad input to %s", fn.__name__)
            raise gr.Error(f"Invalid input: {error}", print_exception=False) from error

    return wrapper


def whole_number(value: float | None, name: str) -> int:
    """A UI or API number that must be an integer (seeds, counts); anything else is the user's error."""
    if value is None or isinstance(value, bool) or not math.isfinite(value) or value != int(value):
        raise InvalidRequestError(f"{name} must be a whole number, not {value!r}.")
    return int(value)
