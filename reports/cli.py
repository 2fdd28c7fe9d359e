"""`nas-report RUN_DIR`: the report of a nas-search, nas-ablate or nas-fidelity run folder (markdown, HTML,
figures, CSV)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from kit.cli import Parser, run_main
from reports.tables import ReportError


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `nas-report`."""
    p = Parser(
        prog="nas-report",
        description="Write the report of a run folder of nas-search, nas-ablate or nas-fidelity: report.md, a "
                    "self-contained report.html, the figures (PNG) and the tables (CSV). Works on a run that is "
                    "still going or was stopped, and says that it is partial.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run folder, e.g. runs/search")
    p.add_argument("--format", default="md,html", help="comma-separated: md, html (default md,html)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default RUN_DIR/report)")
    return p


def parse_formats(text: str) -> tuple[str, ...]:
    """`md,html` -> ('md', 'html'); ReportError for anything else."""
    from reports.render import FORMATS
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ReportError(f"--format {text!r}: give one or more of {', '.join(FORMATS)}, separated by commas")
    return formats


def report(args: argparse.Namespace) -> None:
    """Read the run folder, write the report, say what was written."""
    from reports.render import write_report
    from reports.tables import load_run, run_status
    formats = parse_formats(args.format)
    run = load_run(args.run_dir)
    out = Path(args.out) if args.out else run.root / "report"
    written = write_report(run, out, formats)
    status = run_status(run)
    if status.partial:
        print(f"nas-report: partial run: {'; '.join(status.notes)}", file=sys.stderr)
    for path in written:
        print(f"nas-report: wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; a missing or unreadable run folder is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    return run_main("nas-report", lambda: report(args))


if __name__ == "__main__":
    sys.exit(main())
