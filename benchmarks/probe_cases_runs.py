"""The probe's cases of the run drivers and the report: nas-search, nas-report, nas-ablate, nas-fidelity.

None of the failing cases should reach Ray: the drivers validate every argument, the data, the output folder and
the run folder's files first, so a case that slips through runs into the probe's timeout (TIMEOUT).
"""
from __future__ import annotations

from probe_cases import both, case, cut, here, locked, mkdir, put, sub

PY_TAG = "!!python/object/apply:os.system ['touch /tmp/probe-pwned']\n"
SEARCH = "--budget 5G --preset smoke --data {cache} --out {tmp}/runs --name s --trials 1"
C, S = ("cache",), ("cache", "search")
RESUME = "--out {tmp} --name search --resume"


def _search_flags() -> list:
    """nas-search with one malformed setting each."""
    bad = [("--budget", "abc"), ("--budget", "-5G"), ("--budget", "1e400"), ("--tol", "1.5"), ("--trials", "0"),
           ("--trials", "x"), ("--trials", "1e12"), ("--seed", "-1"), ("--proxy-epochs", "0"), ("--proxy-fraction", "2"),
           ("--proxy-res", "100000"), ("--top-k", "-1"), ("--final-seeds", "0"), ("--baselines", "resnet35d"),
           ("--batch", "0"), ("--val-max", "0"), ("--cpus-per-trial", "-1"), ("--gpus-per-trial", "lots"),
           ("--task", "nope"), ("--task", "os:system"), ("--time-limit", "-5")]
    return [case("nas-search", f"{SEARCH} {f} {v}", f"{f} {v}", uses=C, words=(v if f == "--baselines" else f,))
            for f, v in bad]


def _preset(text: str, what: str) -> object:
    return case("nas-search", f"{SEARCH} --preset {{tmp}}/p.yaml", f"preset: {what}", uses=C, setup=put("p.yaml", text),
                words=("p.yaml",))


SEARCH_CASES = [
    *_search_flags(),
    case("nas-search", f"{SEARCH} --preset nope", "an unknown preset", uses=C, words=("nope",)),
    _preset("42\n", "the number 42"), _preset("- a: 1\n- b: 2\n", "a list of mappings"),
    _preset(PY_TAG, "a python tag"), _preset("trials: [1\n", "truncated YAML"), _preset("triols: 3\n", "a misspelt key"),
    _preset("proxy_epochs: -3\n", "negative proxy epochs"), 
    case("nas-search", f"{SEARCH} --preset {{tmp}}", "preset a folder", uses=C, words=("{tmp}",)),
    case("nas-search", SEARCH.replace("{cache}", "{tmp}/missing"), "--data missing", words=("missing",)),
    case("nas-search", SEARCH.replace("{cache}", "{file}"), "--data a file", words=("{file}",)),
    case("nas-search", SEARCH.replace("{cache}", "{tmp}/empty"), "--data an empty folder", setup=mkdir("empty"),
         words=("empty",)),
    case("nas-search", SEARCH, "manifest cut short", uses=C, setup=cut("cache/manifest.json", 40),
         words=("manifest.json",)),
    case("nas-search", SEARCH, "manifest says 99 train frames", uses=C,
         setup=sub("cache/manifest.json", r'"train": 24', '"train": 99'), words=("manifest.json",)),
    case("nas-search", SEARCH, "split.npy cut short", uses=C, setup=cut("cache/split.npy", 200), words=("split.npy",)),
    *[case("nas-search", SEARCH.replace("--name s", f"--name {n}"), f"--name {n}", uses=C, words=("--name",))
      for n in ("../x", "/abs", "''")],
    case("nas-search", SEARCH.replace("{tmp}/runs", "{file}"), "--out a file", uses=C, words=("{file}",)),
    case("nas-search", SEARCH.replace("{tmp}/runs", "{file}/sub"), "--out under a file", uses=C, words=("{file}",)),
    case("nas-search", SEARCH.replace("{tmp}/runs", "/proc/probe"), "--out under /proc", uses=C, words=("/proc",)),
    case("nas-search", SEARCH.replace("{tmp}/runs", "{ro}"), "--out a read-only disk", uses=C, words=("{ro}",)),
    case("nas-search", SEARCH.replace("{tmp}/runs", "{full}"), "--out a full disk", uses=C, words=("{full}",)),
    case("nas-search", "--out {tmp}/runs --name s --resume", "--resume on nothing", words=("s",)),
    case("nas-search", "--resume --out {tmp}", "--resume without --name", words=("--name",)),
    case("nas-search", SEARCH.replace("{tmp}/runs --name s", "{tmp} --name search"), "a second run on the same name",
         uses=S, words=("search",)),
    case("nas-search", RESUME, "--resume, summary.json cut short", uses=S,
         setup=both(here("search"), cut("search/summary.json", 30)), words=("summary.json",)),
    case("nas-search", RESUME, "--resume, config.yaml garbage", uses=S, setup=put("search/config.yaml", ": : :\n\x00"),
         words=("config.yaml",)),
    case("nas-search", RESUME, "--resume, config.yaml a python tag", uses=S, setup=put("search/config.yaml", PY_TAG),
         words=("config.yaml",)),
    case("nas-search", RESUME, "--resume, config.yaml trials: many", uses=S,
         setup=both(here("search"), sub("search/config.yaml", r"^trials: .*$", "trials: many")), words=("config.yaml",)),
    case("nas-search", RESUME, "--resume while another driver holds the run", uses=S,
         setup=both(here("search"), locked("search")), words=("search",)),
    case("nas-search", f"{SEARCH} --storage bogus://x", "a malformed --storage", uses=C, words=("bogus",)),
    case("nas-search", f"{SEARCH} --address 127.0.0.1:1", "an unreachable --address", uses=C, words=("127.0.0.1:1",)),
    case("nas-search", f"{SEARCH} --proxy-from {{tmp}}/missing", "--proxy-from missing", uses=C, words=("missing",)),
    case("nas-search", f"{SEARCH} --proxy-from {{search}}", "--proxy-from a search run", uses=S, words=("{search}",)),
    case("nas-search", f"{SEARCH} --proxy-from {{fidelity}}", "--proxy-from an unfinished fidelity run",
         uses=("cache", "fidelity"), words=("{fidelity}",),  # the fixture's study has finished since: unfinish it
         setup=both(sub("fidelity/summary.json", r'"recommended_proxy":', '"recommended_proxy_not_yet":'),
                    sub("fidelity/summary.json", r'"fidelity": "done"', '"fidelity": "running"'))),
]

# ------------------------------------------------------------------ nas-report
R, A, F = ("search",), ("ablate",), ("fidelity",)
REPORT_CASES = [
    case("nas-report", "{search}", "a search run", ok=True, uses=R),
    case("nas-report", "{ablate}", "an ablation run", ok=True, uses=A),
    case("nas-report", "{fidelity}", "an unfinished fidelity run", ok=True, uses=F),
    case("nas-report", "{search} --format md --out {tmp}/rep", "markdown only, elsewhere", ok=True, uses=R),
    case("nas-report", "{tmp}/missing", "a run that is not there", words=("missing",)),
    case("nas-report", "{file}", "a run that is a file", words=("{file}",)),
    case("nas-report", "{tmp}/empty", "an empty folder", setup=mkdir("empty"), words=("empty",)),
    *[case("nas-report", "{search}", f"search {what}", uses=R, setup=s, words=(name,)) for what, name, s in [
        ("trials.csv cut mid-number", "trials.csv", cut("search/trials.csv", -40)),
        ("trials.csv of garbage", "trials.csv", put("search/trials.csv", b"\x00\xff garbage\n")),
        ("trials.csv score abc", "trials.csv", sub("search/trials.csv", r"(?<=complete,)[0-9.]+", "abc")),
        ("trials.csv empty", "trials.csv", put("search/trials.csv", "")),
        ("final.csv score abc", "final.csv", sub("search/final.csv", r"(?<=,searched,)([^,]*,){2}[0-9.]+",
                                                 r"\g<1>\g<1>abc")),
        ("final.csv cut short", "final.csv", cut("search/final.csv", -60)),
        ("summary.json []", "summary.json", put("search/summary.json", "[]")),
        ("summary.json cut short", "summary.json", cut("search/summary.json", 20)),
        ("summary.json stage1 a number", "summary.json", put("search/summary.json", '{"stage1": 5, "stage2": []}')),
        ("config.yaml garbage", "config.yaml", put("search/config.yaml", ": : :\n\x00")),
        ("config.yaml a python tag", "config.yaml", put("search/config.yaml", PY_TAG)),
        ("config.yaml a list", "config.yaml", put("search/config.yaml", "- 1\n"))]],
    case("nas-report", "{search} --format pdf", "an unknown format", uses=R, words=("pdf",)),
    case("nas-report", "{search} --out {file}", "--out a file", uses=R, words=("{file}",)),
    case("nas-report", "{search} --out {file}/r", "--out under a file", uses=R, words=("{file}",)),
    case("nas-report", "{search} --out /proc/probe-r", "--out under /proc", uses=R, words=("/proc",)),
    case("nas-report", "{search} --out {ro}/r", "--out on a read-only disk", uses=R, words=("{ro}",)),
    case("nas-report", "{search} --out {full}/r", "--out on a full disk", uses=R, words=("{full}",)),
    *[case("nas-report", "{fidelity}", f"fidelity {what}", uses=F, setup=s, words=(name,)) for what, name, s in [
        ("models.csv of garbage", "models.csv", put("fidelity/models.csv", "a,b\n1\n")),
        ("summary.json cut short", "summary.json", cut("fidelity/summary.json", 20)),
        ("config.yaml a list", "config.yaml", put("fidelity/config.yaml", "- 1\n"))]],
    *[case("nas-report", "{ablate}", f"ablation {what}", uses=A, setup=s, words=(name,)) for what, name, s in [
        ("final.csv cut short", "final.csv", cut("ablate/final.csv", -30)),
        ("summary.json []", "summary.json", put("ablate/summary.json", "[]")),
        ("config.yaml garbage", "config.yaml", put("ablate/config.yaml", ": : :\n"))]],
]

# ------------------------------------------------------------------ nas-ablate
ABL = "--data {cache} --epochs 1 --res 32 --batch 16 --out {tmp}/runs --name a"
ARESUME = "--out {tmp} --name ablate --resume"
ABLATE_CASES = [
    *[case("nas-ablate", f"{ABL} {f} {v}", f"{f} {v}", uses=C, words=(w or f,)) for f, v, w in [
        ("--epochs", "0", ""), ("--seeds", "0", ""), ("--seed", "-1", ""), ("--res", "0", ""),
        ("--searched", "d1.1.1_w8.16.16.16", "d1.1.1_w8"), ("--cpus-per-trial", "-1", ""), ("--name", "../x", "")]],
    case("nas-ablate", f"{ABL} --from-run {{tmp}}/missing", "--from-run missing", uses=C, words=("missing",)),
    case("nas-ablate", f"{ABL} --from-run {{file}}", "--from-run a file", uses=C, words=("{file}",)),
    case("nas-ablate", f"{ABL} --from-run {{tmp}}/empty", "--from-run an empty folder", uses=C, setup=mkdir("empty"),
         words=("empty",)),
    case("nas-ablate", f"{ABL} --from-run {{search}}", "--from-run, final.csv score abc", uses=S,
         setup=sub("search/final.csv", r"(?<=,searched,)([^,]*,){2}[0-9.]+", r"\g<1>\g<1>abc"), words=("final.csv",)),
    case("nas-ablate", f"{ABL} --from-run {{search}}", "--from-run, final.csv cut short", uses=S,
         setup=cut("search/final.csv", -60), words=("final.csv",)),
    case("nas-ablate", f"{ABL} --from-run {{ablate}}", "--from-run an ablation", uses=("cache", "ablate"),
         words=("{ablate}",)),
    case("nas-ablate", ABL.replace("{cache}", "{tmp}/missing"), "--data missing", words=("missing",)),
    case("nas-ablate", ABL.replace("{cache}", "{file}"), "--data a file", words=("{file}",)),
    case("nas-ablate", ABL, "manifest cut short", uses=C, setup=cut("cache/manifest.json", 40), words=("manifest.json",)),
    case("nas-ablate", ABL.replace("{tmp}/runs", "{file}"), "--out a file", uses=C, words=("{file}",)),
    case("nas-ablate", ABL.replace("{tmp}/runs", "{ro}"), "--out a read-only disk", uses=C, words=("{ro}",)),
    case("nas-ablate", ABL.replace("{tmp}/runs", "{full}"), "--out a full disk", uses=C, words=("{full}",)),
    case("nas-ablate", "--out {tmp}/runs --name a --resume", "--resume on nothing", words=("a",)),
    case("nas-ablate", ABL.replace("{tmp}/runs --name a", "{tmp} --name ablate"), "a second run on the same name",
         uses=("cache", "ablate"), words=("ablate",)),
    case("nas-ablate", ARESUME, "--resume, summary.json cut short", uses=("cache", "ablate"),
         setup=both(here("ablate"), cut("ablate/summary.json", 10)), words=("summary.json",)),
    case("nas-ablate", ARESUME, "--resume, config.yaml garbage", uses=("cache", "ablate"),
         setup=put("ablate/config.yaml", ": : :\n"), words=("config.yaml",)),
    case("nas-ablate", ARESUME, "--resume, final.csv cut short", uses=("cache", "ablate"),
         setup=both(here("ablate"), cut("ablate/final.csv", -30)), words=("final.csv",)),
    case("nas-ablate", ARESUME, "--resume while another driver holds it", uses=("cache", "ablate"),
         setup=both(here("ablate"), put("ablate/summary.json", '{"ablation": "running"}'), locked("ablate")),
         words=("ablate",)),
]

# ------------------------------------------------------------------ nas-fidelity
FID = "--data {cache} --preset smoke --out {tmp}/runs --name f"
FRESUME = "--out {tmp} --name fidelity --resume"
FC = ("cache", "fidelity")
FIDELITY_CASES = [
    *[case("nas-fidelity", f"{FID} {f} {v}", f"{f} {v}", uses=C, words=(w or f,)) for f, v, w in [
        ("--archs", "0", ""), ("--full-seeds", "0", ""), ("--proxies", "nope", "nope"), ("--preset", "nope", "nope"),
        ("--budget", "abc", ""), ("--baselines", "resnet35d", "resnet35d"), ("--seed", "-1", ""),
        ("--name", "../x", "")]],
    case("nas-fidelity", f"{FID} --preset {{tmp}}/p.yaml", "preset the number 42", uses=C, setup=put("p.yaml", "42\n"),
         words=("p.yaml",)),
    case("nas-fidelity", FID.replace("{cache}", "{tmp}/missing"), "--data missing", words=("missing",)),
    case("nas-fidelity", FID.replace("{cache}", "{file}"), "--data a file", words=("{file}",)),
    case("nas-fidelity", FID.replace("{tmp}/runs", "{file}"), "--out a file", uses=C, words=("{file}",)),
    case("nas-fidelity", FID.replace("{tmp}/runs", "{ro}"), "--out a read-only disk", uses=C, words=("{ro}",)),
    case("nas-fidelity", FID.replace("{tmp}/runs", "{full}"), "--out a full disk", uses=C, words=("{full}",)),
    case("nas-fidelity", "--out {tmp}/runs --name f --resume", "--resume on nothing", words=("f",)),
    case("nas-fidelity", FID.replace("{tmp}/runs --name f", "{tmp} --name fidelity"), "a second run on the same name",
         uses=FC, words=("fidelity",)),
    *[case("nas-fidelity", FRESUME, f"--resume, {what}", uses=FC, setup=both(here("fidelity"), s), words=(name,))
      for what, name, s in [
          ("jobs.csv cut short", "jobs.csv", cut("fidelity/jobs.csv", -30)),
          ("jobs.csv score abc", "jobs.csv", sub("fidelity/jobs.csv", r"(?<=,complete,)[0-9.]+", "abc")),
          ("models.csv of garbage", "models.csv", put("fidelity/models.csv", "a,b\n1\n")),
          ("summary.json cut short", "summary.json", cut("fidelity/summary.json", 20))]],
    case("nas-fidelity", FRESUME, "--resume, config.yaml garbage", uses=FC, setup=put("fidelity/config.yaml", ": : :\n"),
         words=("config.yaml",)),
    case("nas-fidelity", FRESUME, "--resume, config.yaml a list", uses=FC, setup=put("fidelity/config.yaml", "- 1\n"),
         words=("config.yaml",)),
    case("nas-fidelity", FRESUME, "--resume while another driver holds it", uses=FC,
         setup=both(here("fidelity"), locked("fidelity")), words=("fidelity",)),
]

CASES = [*SEARCH_CASES, *REPORT_CASES, *ABLATE_CASES, *FIDELITY_CASES]
