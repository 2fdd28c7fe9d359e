"""Checks shared by the report tests."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

# the tables of an earlier 30-trial H100 search (docs/example_run is a later, larger one)
EXAMPLE_RUN = Path(__file__).resolve().parent / "data" / "h100_search_30trials"
# `python -c BLOCKED_MAIN RUN_DIR ...`: nas-report with torch, timm, Ray, fvcore and cv2 made unimportable
BLOCKED_MAIN = ("import sys\n"
                "class Block:\n"
                "    def find_spec(self, name, path=None, target=None):\n"
                "        if name.split('.')[0] in ('torch', 'timm', 'ray', 'fvcore', 'cv2'):\n"
                "            raise ImportError('blocked: ' + name)\n"
                "sys.meta_path.insert(0, Block())\n"
                "from reports.cli import main\n"
                "sys.exit(main(sys.argv[1:]))")


def check_png(path: Path) -> None:
    """A valid PNG of a sensible size that is not blank."""
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        w, h = im.size
        assert 500 <= w <= 2000 and 250 <= h <= 1500, (path.name, im.size)
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.std() > 5 and (pixels < 128).mean() > 0.005, f"{path.name} looks blank"
    assert path.stat().st_size < 400_000


def copy_run(src: Path, dst: Path) -> Path:
    """The tables and settings of a run folder (no checkpoints), to edit."""
    dst.mkdir(parents=True)
    for name in ("config.yaml", "trials.csv", "final.csv", "summary.json"):
        if (src / name).exists():
            shutil.copy(src / name, dst / name)
    return dst
