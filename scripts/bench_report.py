"""The results and report tables of the benchmark drivers: Results, speed, fmt_ratio, md_row,
matching_lines, notes_block and the mount benchmark's ratio table (print_ratio_table). Part of
scripts/bench_common.py, which imports it at its end and re-exports its names; import
bench_common (not this module) first."""
from bench_common import log


# --- Results and tables ----------------------------------------------------------------------

class Results:
    """The measurements of a run: (round, name, key, value) in run order. Values are kept as
    the strings recorded (the precision the tables read) and compared as floats."""

    def __init__(self):
        self.rows = []

    def record(self, rnd, name, key, value):
        self.rows.append((int(rnd), name, key, str(value)))
        log("  %s %s = %s" % (name, key, value))

    def values(self, name, key):
        """[(round, float value)] of NAME's KEY, in run order."""
        return [(r, float(v)) for r, n, k, v in self.rows if n == name and k == key]

    def first(self, key):
        """The string value of the first record of KEY (any name), or None."""
        return next((v for _, _, k, v in self.rows if k == key), None)

    def names(self):
        return {n for _, n, _, _ in self.rows}

    def grouped(self):
        """{(name, key): [(round, float value), ...]}, keys in the order of their first record
        and values in run order."""
        out = {}
        for r, n, k, v in self.rows:
            out.setdefault((n, k), []).append((r, float(v)))
        return out

    def best(self, name, key, kind="time"):
        """The best value of NAME's KEY: the highest for kind "rate", else the lowest."""
        vals = [v for _, v in self.values(name, key)]
        if not vals:
            return None
        return max(vals) if kind == "rate" else min(vals)


def speed(a, b, kind):
    """How many times faster A is than B (throughputs, kind "rate": A/B; times: B/A); None if
    unknown."""
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return a / b if kind == "rate" else b / a


def fmt_ratio(r):
    return "—" if r is None else "%.2f×" % r


def md_row(cells):
    """One markdown table row."""
    return "| " + " | ".join(cells) + " |"


def matching_lines(path, words, unless=None):
    """The lines of the file PATH (without newlines) holding one of WORDS, in any case (as
    grep -iE 'w1|w2...'), except those holding UNLESS."""
    with open(path, errors="replace") as f:
        return [line.rstrip("\n") for line in f
                if any(w in line.lower() for w in words) and not (unless and unless in line)]


def notes_block(title, lines):
    """The report's block of note lines (the first 50), if any, as a code block."""
    if not lines:
        return
    print()
    print(title)
    print()
    print("```")
    for line in lines[:50]:
        print(line)
    print("```")


# --- The ratio table of the mount benchmark --------------------------------------------------

FS_ORDER = ["plain", "weightfs", "gocryptfs", "securefs"]  # the table's columns
OTHERS = ["gocryptfs", "securefs"]  # the small-file rows' goal: as fast as the fastest of these


def fmt_unit(v, unit):
    if v is None:
        return "—"
    if unit == "s":
        return ("%.3f s" if v < 1 else "%.2f s" if v < 100 else "%.0f s") % v
    return ("%.0f " % v if v >= 100 else "%.1f " % v) + unit


def print_ratio_table(results, metrics, cache_mib):
    """The markdown report of the mount benchmark: the best of every measurement of RESULTS per
    filesystem, its speed ratio to the plain directory (and weightfs's to gocryptfs), the goal
    and whether weightfs meets it, the weightfs daemon's CPU s/GiB; the daemon's peak RSS
    against CACHE_MIB + 64 MiB; every round in a details block. METRICS: the rows in order, each
    (key, label, unit, kind, goal, CPU goal or None, the key of the plain value it is compared
    with); kind "rate" (higher is better) or "time"; goal None, ("ratio", min ratio to plain),
    ("fastest",) (of OTHERS) or ("shared", private key, max ratio to it or None)."""
    rows = results.grouped()
    fses = [fs for fs in FS_ORDER if any(name == fs for name, _ in rows)]
    print("Best of each measurement over all rounds. **Ratios are speed ratios: > 1 means faster "
          "than the plain directory** (fs/plain for throughputs, plain/fs for times); the goals "
          "are issue #9's, for weightfs. CPU = the weightfs daemon's utime + stime over the timed "
          "step (/proc/PID/stat) per GiB moved, lowest over the rounds.")
    print()
    others = [fs for fs in fses if fs != "plain"]
    head = ["Measurement"] + fses + ["%s ÷ plain" % fs for fs in others]
    if "weightfs" in fses and "gocryptfs" in fses:
        head.append("weightfs ÷ gocryptfs")
    head += ["goal (weightfs)", "met?", "weightfs CPU s/GiB (goal)"]
    print(md_row(head))
    print("|---" + "|--:" * (len(head) - 4) + "|---|---|--:|")
    for m in metrics:
        cells = _ratio_row(results, rows, fses, m)
        if cells:
            print(md_row(cells))
    print()
    rss = [(v, key[4:], rnd) for (fs, key), vals in rows.items()
           if fs == "weightfs" and key.startswith("rss:") for rnd, v in vals]
    if rss:
        v, phase, rnd = max(rss)
        bound = int(cache_mib) + 64
        print("weightfs daemon peak RSS (VmHWM before each of its %d unmounts, max over the run): "
              "**%.0f MiB** (round %d, mount ending after `%s`); bound `--cache-size` %s MiB + 64 "
              "MiB = %d MiB: %s." % (len(rss), v, rnd, phase, cache_mib, bound,
                                     "met" if v <= bound else "**not met**"))
        print()
    _print_rounds(rows, fses, metrics, rss)


def _ratio_row(results, rows, fses, metric):
    """The cells of one row of the ratio table, or None when no filesystem has a value."""
    key, label, unit, kind, goal, cpu_goal, base_key = metric
    b = {fs: results.best(fs, key, kind) for fs in fses}
    if all(v is None for v in b.values()):
        return None
    plain = results.best("plain", base_key, kind) if "plain" in fses else None
    cells = [label] + [fmt_unit(plain if fs == "plain" else b[fs], unit) for fs in fses]
    cells += [fmt_ratio(speed(b[fs], plain, kind)) for fs in fses if fs != "plain"]
    if "weightfs" in fses and "gocryptfs" in fses:
        cells.append(fmt_ratio(speed(b["weightfs"], b["gocryptfs"], kind)))
    cells += _goal_cells(results, b, plain, kind, goal)
    cpu_vals = [v for _, v in rows.get(("weightfs", "cpu:" + key), [])]
    cpu = ""
    if cpu_vals:
        cpu = "%.2f" % min(cpu_vals)
        if cpu_goal is not None:
            cpu += " (≤ %g: %s)" % (cpu_goal, "yes" if min(cpu_vals) <= cpu_goal else "**no**")
    return cells + [cpu]


def _goal_cells(results, b, plain, kind, goal):
    """[goal, met?] of a row: B holds the best value per filesystem, PLAIN the baseline's."""
    goal_s, met = "", ""
    w = b.get("weightfs")
    if goal and goal[0] == "ratio":
        goal_s = "≥ %.2f× plain" % goal[1]
        r = speed(w, plain, kind)
        met = "—" if r is None else ("yes" if r >= goal[1] else "**no**")
    elif goal and goal[0] == "fastest":
        goal_s = "≥ fastest of " + ", ".join(OTHERS)
        rivals = [b.get(fs) for fs in OTHERS if b.get(fs) is not None]
        if w is not None and rivals:
            fastest = min(rivals)  # all these rows are times
            met = "yes" if w <= fastest else "**no**"
    elif goal and goal[0] == "shared":
        private = results.best("weightfs", goal[1], kind)
        r = None if w is None or not private else w / private
        if goal[2] is not None:
            goal_s = "shared ≤ %g× private" % goal[2]
        if r is not None:
            met = "%.2f× private" % r
            if goal[2] is not None:
                met += ": " + ("yes" if r <= goal[2] else "**no**")
    return [goal_s, met]


def _print_rounds(rows, fses, metrics, rss):
    """The details block: every round's value of every row, the CPU and the VmHWM readings."""
    print("<details><summary>Every round (in run order)</summary>")
    print()
    print("| Measurement | " + " | ".join(fses) + " |")
    print("|---" + "|--:" * len(fses) + "|")
    for key, label, unit, kind, goal, cpu_goal, base_key in metrics:
        cells = []
        for fs in fses:
            vals = [v for _, v in sorted(rows.get((fs, base_key if fs == "plain" else key), []))]
            cells.append(" / ".join(fmt_unit(v, unit).replace(" " + unit, "") for v in vals)
                         if vals else "—")
        if all(cl == "—" for cl in cells):
            continue
        print("| %s (%s) | %s |" % (label, unit, " | ".join(cells)))

    def weightfs_only(label, text):  # a row with a value in the weightfs column only
        print("| %s | %s |" % (label, " | ".join(text if fs == "weightfs" else "" for fs in fses)))

    for m in metrics:
        vals = [v for _, v in sorted(rows.get(("weightfs", "cpu:" + m[0]), []))]
        if vals:
            weightfs_only("weightfs daemon CPU, %s (s/GiB)" % m[0],
                          " / ".join("%.2f" % v for v in vals))
    if rss:
        weightfs_only("weightfs daemon VmHWM per mount, in run order (MiB)", " / ".join(
            "%.0f (%s)" % (v, phase) for v, phase, _ in sorted(rss, key=lambda x: x[2])))
    print()
    print("</details>")
