"""The two continuous helpers the plan rules are written with (SPEC section 5: no plan number
jumps at a threshold; each blends across about ±1 dB/LU)."""

from __future__ import annotations


def clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def smoothstep(edge0: float, edge1: float, x: float) -> float:
    """0 below edge0, 1 above edge1, a C¹ S-curve in between."""
    t = clamp((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
