"""Shared helpers of the face-data tests: where the real ARKit data lies, tiny synthetic sets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FACE_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "face_data"
ARKIT = FACE_DATA / "arkit_blendshapes"
KPT_IND = FACE_DATA / "wcpa_resources" / "kpt_ind.npy"
PROJECTION_TXT = FACE_DATA / "wcpa_resources" / "projection_matrix.txt"
TRIANGLES_NPY = FACE_DATA / "wcpa_resources" / "triangles.npy"


def need_face_data() -> None:
    """Skip the calling test where ../shared/face_data is absent."""
    if not (ARKIT / "Neutral.obj").is_file() or not KPT_IND.is_file():
        pytest.skip(f"real ARKit face data not found at {FACE_DATA.resolve()}")


def arkit_model():
    """The real ARKit face model (skips without the data)."""
    need_face_data()
    from facedata.face_model import load_face_model
    return load_face_model(ARKIT, np.load(KPT_IND))


def tiny_synth(out: Path, face_model: str = "procedural", landmarks: str | None = None, subjects: int = 3,
               frames: int = 4, per_action: int = 2, size: int = 800, seed: int = 0, workers: int = 1,
               test_subjects: float = 0.34) -> Path:
    """A tiny synthetic WCPA root at `out`."""
    from facedata.synth import SynthConfig, synthesize
    synthesize(SynthConfig(out=str(out), subjects=subjects, frames_per_subject=frames,
                           frames_per_action=per_action, face_model=face_model, landmarks=landmarks,
                           test_subjects=test_subjects, size=size, seed=seed, workers=workers))
    return out
