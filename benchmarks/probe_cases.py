"""The probe's cases of nas-space, nas-data, nas-train and nas-eval, and the helpers every case list uses.

Placeholders in a case's arguments: {tmp} (its fresh folder), {file} (a regular file there), {root} {cache} {ckpt}
{search} {ablate} {fidelity} (copies of the fixtures named in `uses`), {ro} (a read-only tmpfs) and {full} (a
full tmpfs). A setup damages the copies before the snapshot; it may return a function that undoes a hold.
"""
from __future__ import annotations

import fcntl
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

Setup = Callable[[Path], Optional[Callable[[], None]]]
_COUNT: dict[str, int] = {}


@dataclass(frozen=True)
class Case:
    """One probe: a command line, whether it should succeed, and what its error line must name."""

    id: str
    cmd: str
    args: str
    what: str
    ok: bool = False
    uses: tuple[str, ...] = ()
    setup: Optional[Setup] = None
    words: tuple[str, ...] = ()


def case(cmd: str, args: str, what: str, ok: bool = False, uses: tuple[str, ...] = (), setup: Optional[Setup] = None,
         words: tuple[str, ...] = ()) -> Case:
    """A case with the next id of its command (`train-07`)."""
    short = cmd.removeprefix("nas-")
    _COUNT[short] = _COUNT.get(short, 0) + 1
    return Case(f"{short}-{_COUNT[short]:02d}", cmd, args, what, ok, uses, setup, words)


# ------------------------------------------------------------------ setups: damage a copy before the run
def cut(rel: str, keep: int) -> Setup:
    """Keep the first `keep` bytes of a file (negative: drop the last -keep)."""
    def run(tmp: Path) -> None:
        p = tmp / rel
        data = p.read_bytes()
        p.write_bytes(data[:keep])
    return run


def put(rel: str, data: "str | bytes") -> Setup:
    """Write `data` into a file, creating its folder."""
    def run(tmp: Path) -> None:
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return run


def sub(rel: str, pattern: str, new: str) -> Setup:
    """Replace the first match of a regular expression in a text file."""
    def run(tmp: Path) -> None:
        p = tmp / rel
        p.write_text(re.sub(pattern, new, p.read_text(), count=1, flags=re.M))
    return run


def rm(rel: str) -> Setup:
    """Remove a file."""
    return lambda tmp: (tmp / rel).unlink()


def mkdir(rel: str) -> Setup:
    """Make an (empty) folder."""
    return lambda tmp: (tmp / rel).mkdir(parents=True, exist_ok=True)


def pickled(rel: str) -> Setup:
    """A pickle whose loading would build an arbitrary object (a planted checkpoint or array)."""
    return put(rel, pickle.dumps({"format": "face-nas/jmlr-checkpoint", "payload": Path("/etc/passwd")}))


def npy_object(rel: str) -> Setup:
    """An .npy of dtype object (loading it needs allow_pickle)."""
    def run(tmp: Path) -> None:
        import numpy as np
        np.save(tmp / rel, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    return run


def locked(rel: str) -> Setup:
    """Hold `rel/.lock` as a running driver does, until the case ends."""
    def run(tmp: Path) -> Callable[[], None]:
        (tmp / rel).mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp / rel / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, f"probe pid {os.getpid()} on this host\n".encode(), 0)
        return lambda: os.close(fd)
    return run


def here(run: str) -> Setup:
    """Point a copied run's config.yaml at this case: data the copied cache, out the case folder, name `run`."""
    def go(tmp: Path) -> None:
        p = tmp / run / "config.yaml"
        text = re.sub(r"^data: .*$", f"data: {tmp / 'cache'}", p.read_text(), flags=re.M)
        text = re.sub(r"^out: .*$", f"out: {tmp}", text, flags=re.M)
        p.write_text(re.sub(r"^name: .*$", f"name: {run}", text, flags=re.M))
    return go


def both(*setups: Setup) -> Setup:
    """Several setups in order (the last hold's undo is returned)."""
    def run(tmp: Path) -> Optional[Callable[[], None]]:
        undo = None
        for s in setups:
            undo = s(tmp) or undo
        return undo
    return run


# ------------------------------------------------------------------ nas-space
ARCH = "d1.1.1.1_w8.16.16.16"
SPACE = [
    case("nas-space", f"flops resnet34d", "flops of a baseline", ok=True),
    case("nas-space", f"flops {ARCH}", "flops of a small architecture", ok=True),
    case("nas-space", "sample --budget 5G -n 3", "sample three", ok=True),
    case("nas-space", "baselines", "baselines", ok=True),
    case("nas-space", "baselines --space regnet", "baselines of regnet", ok=True),
    case("nas-space", "flops d1.1.1_w8.16.16.16", "three depths, four widths", words=("d1.1.1_w8.16.16.16",)),
    case("nas-space", "flops d1.1.1.1_w8.16.16", "four depths, three widths", words=("d1.1.1.1_w8.16.16",)),
    case("nas-space", "flops d0.1.1.1_w8.16.16.16", "a stage of depth 0", words=("d0.1.1.1",)),
    case("nas-space", "flops d1.1.1.1_w8.16.16.-16", "a negative width", words=("-16",)),
    case("nas-space", "flops d1.1.1.1_w8.8.8.100000", "a width of 100000 (360 GB)", words=("100000",)),
    case("nas-space", "flops resnet35d", "a near-miss baseline name", words=("resnet35d",)),
    case("nas-space", "flops ''", "an empty architecture"),
    case("nas-space", "flops resnet34d --space nope", "an unknown space", words=("--space",)),
    case("nas-space", "sample --budget abc", "budget not a number", words=("abc",)),
    case("nas-space", "sample --budget -5G", "negative budget", words=("--budget",)),
    case("nas-space", "sample --budget 0", "zero budget", words=("'0'",)),
    case("nas-space", "sample --budget 1e400", "infinite budget", words=("1e400",)),
    case("nas-space", "sample --budget 5G --seed -1", "negative seed", words=("--seed",)),
    case("nas-space", "sample --budget 5G -n 0", "zero count", words=("-n",)),
    case("nas-space", "sample --budget 5G -n 1000000000", "a billion samples", words=("-n",)),
    case("nas-space", "sample --budget 5G --tol 2", "tolerance above 1", words=("tolerance",)),
    case("nas-space", "sample --budget 5G --tol -0.1", "negative tolerance", words=("tolerance",)),
    case("nas-space", "sample --budget 1K", "a budget below every network"),
    case("nas-space", "sample --budget 5G --res 0", "input size 0", words=("--res",)),
]

# ------------------------------------------------------------------ nas-data
SYNTH = "synth --out {tmp}/new --subjects 2 --frames-per-subject 2 --frames-per-action 2 --size 64 --workers 1"
CACHE = "cache --data {root} --out {tmp}/c --res 32 --workers 1"
FRAME = "000004/00/000000"
DATA = [
    case("nas-data", SYNTH, "a tiny synthetic set", ok=True),
    case("nas-data", CACHE, "a tiny cache", ok=True, uses=("root",)),
    *[case("nas-data", f"{SYNTH} {flag} {v}", f"synth {flag} {v}", words=(flag,)) for flag, v in [
        ("--size", "100000"), ("--size", "0"), ("--size", "abc"), ("--subjects", "0"), ("--seed", "-1"),
        ("--workers", "0"), ("--test-subjects", "1.5")]],
    case("nas-data", f"{SYNTH} --face-model nope", "an unknown face model", words=("nope",)),
    case("nas-data", f"{SYNTH} --face-model {{file}}", "a face model that is a file", words=("{file}",)),
    case("nas-data", SYNTH.replace("{tmp}/new", "{file}"), "synth --out a file", words=("{file}",)),
    case("nas-data", SYNTH.replace("{tmp}/new", "{file}/new"), "synth --out under a file", words=("{file}",)),
    case("nas-data", SYNTH.replace("{tmp}/new", "/proc/probe-new"), "synth --out under /proc", words=("/proc",)),
    case("nas-data", SYNTH.replace("{tmp}/new", "{ro}/new"), "synth --out on a read-only disk", words=("{ro}",)),
    case("nas-data", SYNTH.replace("{tmp}/new", "{full}/new"), "synth --out on a full disk", words=("{full}",)),
    case("nas-data", SYNTH.replace("{tmp}/new", "{root}"), "synth --out a non-empty folder", uses=("root",),
         words=("{root}",)),
    case("nas-data", CACHE.replace("{root}", "{tmp}/missing"), "cache --data missing", words=("missing",)),
    case("nas-data", CACHE.replace("{root}", "{file}"), "cache --data a file", words=("{file}",)),
    case("nas-data", CACHE.replace("{root}", "{tmp}/empty"), "cache --data an empty folder", setup=mkdir("empty"),
         words=("empty",)),
    case("nas-data", CACHE.replace("{root}", "{cache}"), "cache --data a cache, not a root", uses=("cache",),
         words=("{cache}",)),
    *[case("nas-data", f"{CACHE} {flag} {v}", f"cache {flag} {v}", uses=("root",), words=(flag,)) for flag, v in [
        ("--res", "0"), ("--res", "100000"), ("--val-subjects", "1.5"), ("--seed", "-1")]],
    case("nas-data", f"{CACHE} --val-subjects 0.6 --test-subjects 0.6", "cache fractions summing above 1",
         uses=("root",)),
    case("nas-data", CACHE.replace("{tmp}/c", "{file}"), "cache --out a file", uses=("root",), words=("{file}",)),
    case("nas-data", CACHE.replace("{tmp}/c", "{file}/c"), "cache --out under a file", uses=("root",),
         words=("{file}",)),
    case("nas-data", CACHE.replace("{tmp}/c", "/proc/probe-c"), "cache --out under /proc", uses=("root",),
         words=("/proc",)),
    case("nas-data", CACHE.replace("{tmp}/c", "{ro}/c"), "cache --out on a read-only disk", uses=("root",),
         words=("{ro}",)),
    case("nas-data", CACHE.replace("{tmp}/c", "{full}/c"), "cache --out on a full disk", uses=("root",),
         words=("{full}",)),
    case("nas-data", CACHE.replace("{tmp}/c", "{cache}"), "cache --out an existing cache", uses=("root", "cache"),
         words=("{cache}",)),
    case("nas-data", CACHE, "a landmarks file cut short", uses=("root",),
         setup=cut(f"root/68landmarks/{FRAME}_68landmarks.txt", 20), words=("68landmarks",)),
    case("nas-data", CACHE, "an info file of garbage", uses=("root",), setup=put(f"root/info/{FRAME}_info.npz", "garbage"),
         words=("info",)),
    case("nas-data", CACHE, "an image of garbage", uses=("root",), setup=put(f"root/image/{FRAME}_ar.jpg", "garbage"),
         words=("_ar.jpg",)),
    case("nas-data", CACHE, "an image missing", uses=("root",), setup=rm(f"root/image/{FRAME}_ar.jpg"),
         words=("_ar.jpg",)),
    case("nas-data", CACHE, "a train list of garbage", uses=("root",),
         setup=put("root/list/WCPA_track2_train.csv", "\x00\x01 garbage,\n1,2\n"), words=("WCPA_track2_train.csv",)),
    case("nas-data", "contact-sheet --out {tmp}/s.png -n 0", "contact sheet of no frames", words=("-n",)),
    case("nas-data", "contact-sheet --out {file}/s.png -n 1 --tile 64", "contact sheet --out under a file",
         words=("{file}",)),
]

# ------------------------------------------------------------------ nas-train
SMALL = f"--arch {ARCH} --epochs 1 --batch 16 --lr 16 --res 32 --device cpu --warmup-steps 5"
TRAIN = f"--data {{cache}} {SMALL} --out {{tmp}}/run"
C = ("cache",)
TRAIN_CASES = [
    case("nas-train", TRAIN, "a 1-epoch training", ok=True, uses=C),
    *[case("nas-train", f"{TRAIN} {flag} {v}", f"{flag} {v}", uses=C, words=(w or flag,)) for flag, v, w in [
        ("--arch", "d1.1.1_w8.16.16.16", "d1.1.1_w8"), ("--arch", "resnet35d", "resnet35d"),
        ("--arch", "d1.1.1.1_w8.16.16.x", "d1.1.1.1_w8.16.16.x"), ("--arch", "d1.1.1.1_w8.8.8.100000", "100000"),
        ("--epochs", "0", ""), ("--epochs", "abc", ""), ("--batch", "0", ""), ("--batch", "100000000", ""),
        ("--lr", "nan", ""), ("--res", "7", ""), ("--res", "100000", ""), ("--seed", "-1", ""),
        ("--device", "cuda", "cuda"), ("--loss-weights", "1,2", "1,2"), ("--train-fraction", "1.5", ""),
        ("--val-max", "0", ""), ("--warmup-steps", "-1", ""), ("--pnp-workers", "0", ""), ("--momentum", "-0.5", ""),
        ("--weight-decay", "-1", "")]],
    case("nas-train", TRAIN.replace("{cache}", "{tmp}/missing"), "--data missing", words=("missing",)),
    case("nas-train", TRAIN.replace("{cache}", "{file}"), "--data a file", words=("{file}",)),
    case("nas-train", TRAIN.replace("{cache}", "{root}"), "--data a WCPA root, not a cache", uses=("root",),
         words=("{root}",)),
    case("nas-train", TRAIN, "manifest cut short", uses=C, setup=cut("cache/manifest.json", 40), words=("manifest.json",)),
    case("nas-train", TRAIN, "manifest of garbage bytes", uses=C, setup=put("cache/manifest.json", b"\xff\xfe\x00"),
         words=("manifest.json",)),
    case("nas-train", TRAIN, "manifest a JSON list", uses=C, setup=put("cache/manifest.json", "[]"),
         words=("manifest.json",)),
    case("nas-train", TRAIN, "manifest says 99 train frames", uses=C,
         setup=sub("cache/manifest.json", r'"train": 24', '"train": 99'), words=("manifest.json",)),
    case("nas-train", TRAIN, "manifest res a string", uses=C, setup=sub("cache/manifest.json", r'"res": 32', '"res": "x"'),
         words=("manifest.json",)),
    case("nas-train", TRAIN, "split.npy cut short", uses=C, setup=cut("cache/split.npy", 200), words=("split.npy",)),
    case("nas-train", TRAIN, "split.npy of garbage", uses=C, setup=put("cache/split.npy", "garbage"), words=("split.npy",)),
    case("nas-train", TRAIN, "split.npy missing", uses=C, setup=rm("cache/split.npy"), words=("split.npy",)),
    case("nas-train", TRAIN, "split.npy an object array", uses=C, setup=npy_object("cache/split.npy"),
         words=("split.npy",)),
    case("nas-train", TRAIN, "images.npy cut short", uses=C, setup=cut("cache/images.npy", -5000), words=("images.npy",)),
    case("nas-train", TRAIN, "verts.npy of the wrong shape", uses=C, setup=put("cache/verts.npy", ""),
         words=("verts.npy",)),
    case("nas-train", TRAIN.replace("{tmp}/run", "{file}"), "--out a file", uses=C, words=("{file}",)),
    case("nas-train", TRAIN.replace("{tmp}/run", "{file}/run"), "--out under a file", uses=C, words=("{file}",)),
    case("nas-train", TRAIN.replace("{tmp}/run", "/proc/probe-run"), "--out under /proc", uses=C, words=("/proc",)),
    case("nas-train", TRAIN.replace("{tmp}/run", "{ro}/run"), "--out on a read-only disk", uses=C, words=("{ro}",)),
    case("nas-train", TRAIN.replace("{tmp}/run", "{full}/run"), "--out on a full disk", uses=C, words=("{full}",)),
    case("nas-train", TRAIN.replace("{tmp}/run", "{ckpt}"), "--out an existing run, no --resume", uses=("cache", "ckpt"),
         words=("{ckpt}",)),
    case("nas-train", f"{TRAIN} --resume", "--resume on nothing", uses=C, words=("run",)),
    case("nas-train", TRAIN.replace("{tmp}/run", "{ckpt}") + " --resume --epochs 2", "--resume, last.pt cut short",
         uses=("cache", "ckpt"), setup=cut("ckpt/last.pt", 1000), words=("last.pt",)),
    case("nas-train", TRAIN.replace("{tmp}/run", "{ckpt}") + " --resume --epochs 2", "--resume, last.pt pickled",
         uses=("cache", "ckpt"), setup=pickled("ckpt/last.pt"), words=("last.pt",)),
]

# ------------------------------------------------------------------ nas-eval
EVAL = "--checkpoint {ckpt} --data {cache} --device cpu --out {tmp}/scores.json"
CK = ("cache", "ckpt")
EVAL_CASES = [
    case("nas-eval", EVAL, "score a run folder", ok=True, uses=CK),
    case("nas-eval", EVAL.replace("{ckpt}", "{ckpt}/last.pt"), "score a checkpoint file", ok=True, uses=CK),
    case("nas-eval", f"{EVAL} --split test --out {{tmp}}/sub.npy", "the test split's submission", ok=True, uses=CK),
    case("nas-eval", EVAL.replace("{ckpt}", "{tmp}/missing.pt"), "checkpoint missing", uses=C, words=("missing.pt",)),
    case("nas-eval", EVAL.replace("{ckpt}", "{tmp}/e.pt"), "checkpoint empty", uses=C, setup=put("e.pt", ""),
         words=("e.pt",)),
    case("nas-eval", EVAL, "checkpoint cut short", uses=CK, setup=cut("ckpt/last.pt", 5000), words=("last.pt",)),
    case("nas-eval", EVAL, "checkpoint of garbage", uses=CK, setup=put("ckpt/last.pt", os.urandom(3000)),
         words=("last.pt",)),
    case("nas-eval", EVAL, "checkpoint a plain pickle", uses=CK, setup=pickled("ckpt/last.pt"), words=("last.pt",)),
    case("nas-eval", EVAL.replace("{ckpt}", "{tmp}/empty"), "checkpoint an empty folder", uses=C, setup=mkdir("empty"),
         words=("empty",)),
    case("nas-eval", EVAL.replace("{ckpt}", "{ckpt}/metrics.json"), "checkpoint a JSON file", uses=CK,
         words=("metrics.json",)),
    case("nas-eval", f"{EVAL} --batch 0", "--batch 0", uses=CK, words=("--batch",)),
    case("nas-eval", f"{EVAL} --batch -1", "--batch -1", uses=CK, words=("--batch",)),
    case("nas-eval", f"{EVAL} --split hold", "an unknown split", uses=CK, words=("--split",)),
    case("nas-eval", f"{EVAL} --device cuda", "a GPU that is not there", uses=CK, words=("cuda",)),
    case("nas-eval", EVAL.replace("{cache}", "{tmp}/missing"), "--data missing", uses=("ckpt",), words=("missing",)),
    case("nas-eval", EVAL, "--data manifest cut short", uses=CK, setup=cut("cache/manifest.json", 40),
         words=("manifest.json",)),
    case("nas-eval", EVAL, "--data split.npy cut short", uses=CK, setup=cut("cache/split.npy", 200),
         words=("split.npy",)),
    case("nas-eval", EVAL.replace("{tmp}/scores.json", "{file}/s.json"), "--out under a file", uses=CK,
         words=("{file}",)),
    case("nas-eval", EVAL.replace("{tmp}/scores.json", "/proc/probe.json"), "--out under /proc", uses=CK,
         words=("/proc",)),
    case("nas-eval", EVAL.replace("{tmp}/scores.json", "{ro}/s.json"), "--out on a read-only disk", uses=CK,
         words=("{ro}",)),
    case("nas-eval", EVAL.replace("{tmp}/scores.json", "{full}/s.json"), "--out on a full disk", uses=CK,
         words=("{full}",)),
    case("nas-eval", EVAL.replace("{tmp}/scores.json", "{cache}"), "--out an existing folder", uses=CK,
         words=("{cache}",)),
]
