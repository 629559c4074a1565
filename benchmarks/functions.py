"""Closed-form test functions used by the problem suite (numpy only).

Every function takes a 1-D array-like and returns a Python float. Known minima are
documented next to each function; :mod:`benchmarks.problems` wraps them into search spaces.

Example:
    >>> round(branin([3.141592653589793, 2.275]), 6)
    0.397887
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ArrayLike = Sequence[float] | np.ndarray

# -- Branin-Hoo on [-5, 10] x [0, 15]; minimum 10 / (8 pi) at (pi, 2.275) and two more points.
BRANIN_MIN = 10.0 / (8.0 * math.pi)


def branin(x: ArrayLike) -> float:
    """Branin-Hoo function; global minimum :data:`BRANIN_MIN`."""
    x1, x2 = float(x[0]), float(x[1])
    b = 5.1 / (4.0 * math.pi**2)
    c = 5.0 / math.pi
    t = 1.0 / (8.0 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * math.cos(x1) + 10.0


# -- Hartmann family on the unit cube (constants from the usual definition).
_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_HARTMANN3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
_HARTMANN6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_HARTMANN6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
# Minimisers refined with L-BFGS-B then Nelder-Mead from the tabulated 6-digit points.
HARTMANN3_ARGMIN = (0.11458887921044149, 0.5556488943782827, 0.8525469849557799)
HARTMANN6_ARGMIN = (
    0.20168950910655,
    0.1500106900645928,
    0.47687397779107643,
    0.2753324307905754,
    0.31165161859162804,
    0.6573005330913106,
)


def _hartmann(x: ArrayLike, a: np.ndarray, p: np.ndarray) -> float:
    z = np.asarray(x, dtype=float)
    return float(-_HARTMANN_ALPHA @ np.exp(-np.sum(a * (z - p) ** 2, axis=1)))


def hartmann3(x: ArrayLike) -> float:
    """Hartmann 3-D; minimum about -3.862780 at :data:`HARTMANN3_ARGMIN`."""
    return _hartmann(x, _HARTMANN3_A, _HARTMANN3_P)


def hartmann6(x: ArrayLike) -> float:
    """Hartmann 6-D; minimum about -3.322368 at :data:`HARTMANN6_ARGMIN`."""
    return _hartmann(x, _HARTMANN6_A, _HARTMANN6_P)


HARTMANN3_MIN = hartmann3(HARTMANN3_ARGMIN)
HARTMANN6_MIN = hartmann6(HARTMANN6_ARGMIN)


def rosenbrock(x: ArrayLike) -> float:
    """Rosenbrock's valley in any dimension; minimum 0 at (1, ..., 1)."""
    z = np.asarray(x, dtype=float)
    return float(np.sum(100.0 * (z[1:] - z[:-1] ** 2) ** 2 + (1.0 - z[:-1]) ** 2))


def ackley(x: ArrayLike, shift: ArrayLike | None = None) -> float:
    """Ackley's function of ``x - shift``; minimum 0 at ``x == shift``.

    Written as ``20 (1 - e1) + (e - e2)`` with both brackets non-negative, so rounding can
    never push the value below the true minimum.
    """
    z = np.asarray(x, dtype=float)
    if shift is not None:
        z = z - np.asarray(shift, dtype=float)
    e1 = math.exp(-0.2 * math.sqrt(float(np.mean(z**2))))
    e2 = math.exp(float(np.mean(np.cos(2.0 * math.pi * z))))
    return 20.0 * (1.0 - e1) + (math.e - e2)


def two_basins(x: float, broad_at: float, narrow_at: float, narrow_width: float) -> float:
    """A broad shallow basin (minimum -1) and a narrow deep one (minimum -2).

    The value is the lower of two parabolas, so the global minimum is exactly -2 at
    ``narrow_at`` whatever the distance between the basins.
    """
    broad = -1.0 + 3.0 * (x - broad_at) ** 2
    narrow = -2.0 + ((x - narrow_at) / narrow_width) ** 2
    return min(broad, narrow)
