"""Machine information and report writing shared by the benchmark scripts (not a benchmark)."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
import subprocess


def load_average() -> str:
    """The 1 / 5 / 15-minute load averages, e.g. ``"1.92 / 2.40 / 2.10"``."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_info(*packages: str) -> dict[str, str]:
    """CPU model, logical CPU count, Python version, date, load and the versions of ``packages``.

    Parameters
    ----------
    packages
        Distribution names (as pip knows them, e.g. ``"scikit-learn"``); a missing one is
        reported as ``"not installed"``.
    """
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = re.search(r"Model name:\s*(.*)", lscpu).group(1).strip()
        cpus = re.search(r"^CPU\(s\):\s*(\d+)", lscpu, re.M).group(1)
    except Exception:  # lscpu missing or unexpected output
        model, cpus = platform.processor() or platform.machine(), str(os.cpu_count())
    info = {
        "cpu": model,
        "cores": cpus,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load": load_average(),
    }
    for name in packages:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = "not installed"
    return info


def report_header(title: str, cmd: str, info: dict[str, str]) -> list[str]:
    """The first lines of a recorded report: the title, the command that wrote it and the machine
    (CPU, cores, load averages at the start and the end; ``info`` from :func:`machine_info` with
    ``info["load_after"]`` set when the run ends)."""
    return [
        f"# {title}",
        "",
        f"Recorded {info['date']} with",
        "",
        "```",
        cmd,
        "```",
        "",
        f"- machine: {info['cpu']}, {info['cores']} cores, shared with other jobs (load average "
        f"{info['load']} at the start, {info['load_after']} at the end; 1 / 5 / 15 minutes)",
    ]


def write_report(lines: list[str], markdown=None) -> str:
    """Join the report's lines, print it, and write it to ``markdown`` (a path) when given."""
    from pathlib import Path

    report = "\n".join(lines) + "\n"
    print(report)
    if markdown:
        path = Path(markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report)
    return report
