"""Bounds on sizes every command checks before allocating: one place, so a crop cache, a search's settings and a
training agree on what they accept (a value past a bound is a typo, and would only fail later, allocating)."""
from __future__ import annotations

MIN_RES, MAX_RES = 16, 4096  # network input and crop sizes: below, no feature map is left; above, no memory is
MAX_IMAGE = 4096  # rendered frame size of `nas-data synth`
MAX_BATCH = 65536  # a larger batch would not fit any GPU at the smallest input size
