"""Refresh benchmark: each step of the refresh after a load (`kb.ingest.refresh`) with its
wall time, CPU time and peak RSS, on N synthetic records (benchmarks/synth.py).

    python benchmarks/refresh.py [N] [--kb FILE]    (default N = 5000)

The load runs in a child process of its own (into a fresh KB, or a copy of --kb, a KB that
one already loaded, so only the refresh is timed), then the refresh in another, with each
step it calls wrapped: a step's peak RSS is the most the process held while it ran (VmHWM
reset at its start through /proc/self/clear_refs), a step inside another (tagging inside
evidence) is also in its parent's figures. CPU s is the refresh process's own; "2nd CPU"
is that of a second process (people's or tagging's other half, when a core is free) that
ended during the step. Then a second refresh over the same KB, with
nothing new, and a third after a second load of N/20 new records (not timed), which the
refresh should take in time that grows with what that load touched. On a shared machine
wall time is what others leave: CPU seconds are printed beside it.
"""

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

# (module, function, whether its peak RSS is measured): the refresh, its steps and the
# parts of evidence.classify; tagging is timed per subject, too often to read /proc.
STEPS = (("kb.ingest", "refresh", True), ("kb.institutions", "resolve", True),
         ("kb.places", "located_trial_sites", True), ("kb.authors", "resolve", True),
         ("kb.institutions", "count_works", True), ("kb.linking", "link_studies", True),
         ("kb.evidence", "classify", True), ("kb.classify", "work_tags", False), ("kb.classify", "trial_tags", False),
         ("kb.evidence", "studies_of", True), ("kb.evidence", "study_rows", True),
         ("kb.evidence", "related_inputs", True), ("kb.evidence", "related_rows", True), ("kb.gapmap", "rebuild", True),
         ("kb.synthesis", "synthesize", True))


def peak_mb():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024


def reset_peak():
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def cpu(who=resource.RUSAGE_SELF):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class Steps:
    """Wall, CPU and peak RSS of each wrapped function, summed over its calls. A step resets
    the peak when it starts, so the step around it keeps the larger of what it held before
    and what the inner step held (`held`, one entry per step under way)."""

    def __init__(self):
        self.figures, self.held = {}, []

    def wrap(self, module, name, rss):
        import importlib

        target = importlib.import_module(module)
        inner = getattr(target, name)
        label = f"{module.split('.')[-1]}.{name}"

        def timed(*args, **kwargs):
            if rss:
                if self.held:
                    self.held[-1] = max(self.held[-1], peak_mb())
                self.held.append(0.0)
                reset_peak()
            wall, used, elsewhere = time.perf_counter(), cpu(), cpu(resource.RUSAGE_CHILDREN)
            try:
                return inner(*args, **kwargs)
            finally:
                figures = self.figures.setdefault(label, {"calls": 0, "seconds": 0.0, "cpu": 0.0, "second": 0.0,
                                                          "peak_mb": None})
                figures["calls"] += 1
                figures["seconds"] += time.perf_counter() - wall
                figures["cpu"] += cpu() - used
                figures["second"] += cpu(resource.RUSAGE_CHILDREN) - elsewhere
                if rss:
                    own = max(self.held.pop(), peak_mb())
                    figures["peak_mb"] = max(figures["peak_mb"] or 0.0, own)
                    if self.held:
                        self.held[-1] = max(self.held[-1], own)

        setattr(target, name, timed)
        # Modules that imported the function by name call it through their own binding.
        for other in ("kb.evidence", "kb.ingest"):
            if getattr(sys.modules.get(other), name, None) is inner:
                setattr(sys.modules[other], name, timed)


def child_refresh(db_file, out, update):
    reset_peak()
    started, used = time.perf_counter(), cpu()
    from kb import evidence, ingest  # noqa: F401  (what refresh imports as it starts)
    imports = {"calls": 1, "seconds": time.perf_counter() - started, "cpu": cpu() - used, "second": 0.0,
               "peak_mb": peak_mb()}
    steps = Steps()
    for module, name, rss in STEPS:
        steps.wrap(module, name, rss)
    from kb import bulk
    from kb.db import open_db
    from kb.ingest import refresh

    runs = []
    for label in ("refresh after the load", "refresh again, nothing new", "refresh after a second load"):
        steps.figures = {"imports (kb.ingest, kb.evidence)": imports} if not runs else {}
        if len(runs) == 2:
            label += f" of {bulk.load_files(open_db(db_file), [update]).added:,} new records"
        refresh(open_db(db_file))
        runs.append({"label": label, **steps.figures.pop("ingest.refresh"), "steps": steps.figures})
    Path(out).write_text(json.dumps(runs))


def child_load(data, db_file):
    from kb import bulk
    from kb.db import open_db

    started, used = time.perf_counter(), cpu()
    added = bulk.load_files(open_db(db_file), [data]).added
    print(json.dumps({"count": added, "seconds": time.perf_counter() - started, "cpu": cpu() - used,
                      "peak_mb": peak_mb()}))


def run(*args):
    done = subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(done.stderr)
    return done.stdout


def main(n, kb=None):
    import synth
    from ingest import PEAK_MB, refresh_against_load

    with tempfile.TemporaryDirectory() as tmp:
        db_file = Path(tmp) / "kb.db"
        if kb:
            shutil.copy(kb, db_file)
            print(f"refresh of a copy of {kb}")
        else:
            data = Path(tmp) / f"synthetic-{n}.xml.gz"
            synth.write(n, data)
            load = json.loads(run("--load", data, db_file).strip().splitlines()[-1])
            print(f"{n:,} records (benchmarks/synth.py): load {load['seconds']:.1f} s wall, {load['cpu']:.1f} CPU s, "
                  f"peak {load['peak_mb']:.0f} MB")
        out, update = Path(tmp) / "refresh.json", Path(tmp) / "update.xml.gz"
        synth.write(max(1, n // 20), update, seed=2, first_pmid=60_000_000)
        run("--refresh", db_file, out, update)
        for refreshed in json.loads(out.read_text()):
            print(f"\n{refreshed['label']}: {refreshed['seconds']:.1f} s wall, {refreshed['cpu']:.1f} CPU s "
                  f"(+ {refreshed['second']:.1f} in a second process), peak {refreshed['peak_mb']:.0f} MB")
            print(f"  {'step':34} {'calls':>6} {'wall s':>7} {'CPU s':>7} {'2nd CPU':>7} {'peak RSS':>9}")
            for label, figures in refreshed["steps"].items():
                peak = f"{figures['peak_mb']:6.0f} MB" if figures["peak_mb"] is not None else f"{'-':>9}"
                print(f"  {label:34} {figures['calls']:6} {figures['seconds']:7.2f} {figures['cpu']:7.2f} "
                      f"{figures['second']:7.2f} {peak}")
        if not kb:
            first = json.loads(out.read_text())[0]
            print(f"\n{refresh_against_load(first, load)}; peak RSS < {PEAK_MB} MB: "
                  f"{'met' if first['peak_mb'] < PEAK_MB else 'NOT met'}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        child_load(*sys.argv[2:4])
    elif sys.argv[1:2] == ["--refresh"]:
        child_refresh(*sys.argv[2:5])
    else:
        args = sys.argv[1:]
        kb = args[args.index("--kb") + 1] if "--kb" in args else None
        numbers = [a for a in args if a.isdigit()]
        main(int(numbers[0]) if numbers else 5000, kb)
