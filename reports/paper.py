"""The JMLR paper's published numbers: Table 1 (ablation, 40 held-out training subjects) and Table 2 (leaderboard)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's Table 1."""

    aug: str
    network: str
    loss: str
    gflops: float
    score: float


# keyed by the `experiment` column of an ablation (trainers.task.FaceTask.ablation), in the paper's order
TABLE1: dict[str, PaperRow] = {
    "resnet34d": PaperRow("Flip", "ResNet34", "L", 5.12, 34.31),
    "resnet34d-noflip": PaperRow("No Flip", "ResNet34", "L", 5.12, 34.76),
    "resnet18d": PaperRow("Flip", "ResNet18", "L", 3.42, 34.95),
    "resnet50d": PaperRow("Flip", "ResNet50", "L", 5.71, 34.70),
    "searched": PaperRow("Flip", "Searched ResNet", "L", 5.13, 34.13),
    "resnet34d-noedge": PaperRow("Flip", "ResNet34", "L_vert + L_land", 5.12, 34.60),
    "ensemble": PaperRow("Flip", "ResNet34 & Searched ResNet", "L", 10.25, 33.39),
}
TABLE1_REFERENCE = "resnet34d"

# Table 2: the winning entry on the WCPA test set (score = v1_v2 + v1_v3 + v1_v4_x10, mm)
LEADERBOARD_JMLR = {"score": 32.811318, "v1_v2": 8.596190, "v1_v3": 8.662822, "v1_v4_x10": 15.552306}
