"""Classical inpainting by OpenCV (no learned weights): diffusion (Telea, Navier-Stokes), frequency-selective
reconstruction (FSR, fast and best) and shift-map patch copying, as named methods beside the networks.

Every method gets the picture with the hole's pixels overwritten (white), so none can see what was there. The
studio works in RGB uint8 [H, W, 3]; OpenCV in BGR (shift-map in CIELab, as its documentation asks). `cv2.inpaint`
takes the hole as non-zero mask pixels, `cv2.xphoto.inpaint` the opposite: non-zero = known. Four are
deterministic: the same picture and hole give the same pixels. Shift-map is not: OpenCV's implementation gives
different pixels for the same input depending on what ran before it in the process (the first call differs from
later ones, and resetting OpenCV's random generator does not help), so its `deterministic` is False and the tab
says so.

Time (one fill, this project's 2-core x86_64 CPU, a medium brush mask): Telea and Navier-Stokes take
milliseconds at any size; FSR fast 0.2 s at 256x256 and 0.6 s at 512x512; shift-map 0.4 s and 1.1 s; FSR best
7 s at 256x256 (11 to 17 s with a thick mask). The slow methods are refused above `max_megapixels` of hole and
surroundings (the regions `models.inpaint` cuts out), which keeps a fill under about 8 s with a thick mask:
FSR fast at 2 megapixels (7 s), shift-map at 0.6 (8 s), FSR best at 0.1 (scored by the evaluation, not offered
in the tab).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

TELEA_RADIUS = 3  # pixels around each hole pixel that cv2.inpaint draws from
BLANK = 255  # what the hole's pixels are overwritten with before any method sees the picture


@dataclass(frozen=True)
class Method:
    id: str
    label: str
    about: str  # one sentence: what it is good and bad for
    fill: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (BGR uint8 with the hole blanked, hole uint8 255) -> BGR
    in_tab: bool  # offered in the studio's tab (all are scored by the evaluation)
    deterministic: bool = True  # the same picture and hole always give the same pixels
    max_megapixels: float | None = None  # the most pixels around the hole it fills in one request (slow methods)


def _diffusion(flags: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    return lambda bgr, hole: cv2.inpaint(bgr, hole, TELEA_RADIUS, flags)


def _xphoto(algorithm: int, lab: bool = False) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def fill(bgr: np.ndarray, hole: np.ndarray) -> np.ndarray:
        source = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab) if lab else bgr
        result = np.zeros_like(source)
        cv2.xphoto.inpaint(source, cv2.bitwise_not(hole), result, algorithm)
        return cv2.cvtColor(result, cv2.COLOR_Lab2BGR) if lab else result

    return fill


METHODS = {method.id: method for method in (
    Method("opencv-telea", "OpenCV Telea (fast-marching diffusion)",
           "Smooth and instant at any size: good for thin scratches and small blemishes, a blur over wide holes.",
           _diffusion(cv2.INPAINT_TELEA), in_tab=True),
    Method("opencv-ns", "OpenCV Navier-Stokes (diffusion)",
           "Carries edges a little way into the hole, instant at any size; like Telea it smears texture over wide "
           "holes.",
           _diffusion(cv2.INPAINT_NS), in_tab=True),
    Method("opencv-fsr-fast", "OpenCV FSR fast (frequency-selective reconstruction; slow: seconds)",
           "Rebuilds texture and regular patterns from their frequencies, sharper than diffusion, at seconds per "
           "megapixel around the hole.",
           _xphoto(cv2.xphoto.INPAINT_FSR_FAST), in_tab=True, max_megapixels=2.0),
    Method("opencv-fsr-best", "OpenCV FSR best (frequency-selective reconstruction; very slow)",
           "FSR's quality profile, about 30 times slower than FSR fast (7 to 17 s for a 256x256 crop), so the "
           "evaluation scores it and the tab does not offer it.",
           _xphoto(cv2.xphoto.INPAINT_FSR_BEST), in_tab=False, max_megapixels=0.1),
    Method("opencv-shift-map", "OpenCV shift-map (copies patches; slow: seconds)",
           "Copies whole patches from elsewhere in the picture, so repeated texture stays sharp, but it can paste "
           "wrong content with visible seams where nothing alike exists.",
           _xphoto(cv2.xphoto.INPAINT_SHIFTMAP, lab=True), in_tab=True, deterministic=False, max_megapixels=0.6),
)}


def is_method(value: object) -> bool:
    """Whether `value` (any value a request may carry) is a classical method's id."""
    return isinstance(value, str) and value in METHODS


def blanked(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`image` (uint8 [H, W, 3]) with the pixels of `hole` (bool [H, W]) overwritten with white."""
    return np.where(hole[..., None], np.uint8(BLANK), image)


def fill(method_id: str, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The whole picture as `method_id` fills `hole` (bool [H, W], True = hole) in `image` (RGB uint8
    [H, W, 3]); the hole's pixels are blanked first. Pixels outside the hole may change too (shift-map blends its
    seams a pixel or two beyond the hole, FSR rounds by a grey level), so the caller composites. RGB uint8."""
    bgr = np.ascontiguousarray(blanked(image, hole)[..., ::-1])
    result = METHODS[method_id].fill(bgr, hole.astype(np.uint8) * 255)
    return np.ascontiguousarray(result[..., ::-1])
