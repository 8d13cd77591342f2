#!/usr/bin/env python3
"""make mutate: applies one-line mutants of security decisions, one at a time, and runs the tests that
must notice each (docs/testing.md). Standard library only.

Mutants live in tests/mutants/*.txt, in blocks separated by blank lines ('#' lines are comments):

    mutant: short.id
    file: src/path/file.c
    find: exact text on one line of that file (it must occur exactly once in the file)
    replace: the mutated text
    tests: test_kbs_broker|cli_test_kbs_interop      (a ctest -R regex)

For each mutant the pristine file is copied aside, the mutant written, a dedicated non-sanitised debug
build (build/mutate) rebuilt incrementally, and `ctest -R <tests>` run with a timeout. A failing test run
KILLS the mutant; a passing one means it SURVIVED. The original file is ALWAYS restored (try/finally,
also on Ctrl-C or SIGTERM; a copy under build/mutate/.pristine is restored at the next start if the
runner itself was killed). The table is printed at the end; the exit status is 1 when any mutant
survived, a find is not unique, a file or test is missing, or the suite fails without mutants.

Environment:
    MUTATE_FULL=1        run the whole suite per mutant instead of its `tests`
    MUTATE_ONLY=REGEX    only the mutants whose id matches
    MUTATE_FILES=GLOB    mutant files (default tests/mutants/*.txt)
    MUTATE_TIMEOUT=S     seconds per mutant's test run (default 600; a timeout counts as killed)
    MUTATE_JOBS=N        build and ctest parallelism (default: the number of CPUs)
    MUTATE_BUILD_DIR=D   the build directory (default build/mutate)
    MUTATE_CHECK=1       only check that every mutant applies as written (its file exists, its find
                         occurs exactly once); no build, no tests. `make test` runs this, so a code
                         change that strands a mutant fails the suite, not the next mutation run.
"""
import fcntl
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("mutant", "file", "find", "replace", "tests")
# Programs and helpers that tests run from outside (CLI tests and e2e tests need them).
NOT_HELPERS = re.compile(r"^(test_|fuzz_|bench_)|^(all|clean|depend|edit_cache|rebuild_cache|test|install|"
                         r"list_install_components|ccgate|ccgate-testutil)$|\.(o|i|s)$|/")


class Mutant:
    def __init__(self, origin):
        self.origin = origin
        self.fields = {}
        self.status = "not-run"
        self.detail = ""
        self.seconds = 0.0

    def __getattr__(self, name):
        if name in KEYS:
            return self.fields.get(name, "")
        raise AttributeError(name)


def log(msg):
    print(msg, flush=True)


def parse_file(path):
    """Blocks of key: value lines separated by blank lines."""
    mutants, cur = [], None
    rel = os.path.relpath(path, ROOT)
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.strip() == "":
                cur = None
                continue
            if line.lstrip().startswith("#"):
                continue
            key, sep, value = line.partition(":")
            key = key.strip()
            if not sep or key not in KEYS:
                raise SystemExit(f"{rel}:{lineno}: expected one of {', '.join(KEYS)}, got: {line}")
            if cur is None:
                cur = Mutant(f"{rel}:{lineno}")
                mutants.append(cur)
            if key in cur.fields:
                raise SystemExit(f"{rel}:{lineno}: '{key}' twice in one mutant (missing blank line?)")
            cur.fields[key] = value.strip()
    for m in mutants:
        missing = [k for k in KEYS if not m.fields.get(k)]
        if missing:
            raise SystemExit(f"{m.origin}: mutant lacks {', '.join(missing)}")
    return mutants


def validate(m):
    """Sets m.status to an error when the mutant cannot be applied as written."""
    path = os.path.join(ROOT, m.file)
    if not os.path.isfile(path):
        m.status, m.detail = "invalid", f"no file {m.file}"
        return
    text = open(path, encoding="utf-8").read()
    n = text.count(m.find)
    if n != 1:
        m.status, m.detail = "find-not-unique", f"find occurs {n} times in {m.file}"
    elif m.find == m.replace:
        m.status, m.detail = "invalid", "replace equals find"
    elif "\n" in m.find or "\n" in m.replace:
        m.status, m.detail = "invalid", "find and replace are one line"


# ---------------------------------------------------------------- restoring files, whatever happens

class Pristine:
    """Keeps the original of the file being mutated, under BUILD/.pristine, until it is restored."""

    def __init__(self, build):
        self.dir = os.path.join(build, ".pristine")

    def recover(self):
        """A runner killed mid-mutant left its copy: put the original back first."""
        for dirpath, _, files in os.walk(self.dir):
            for name in files:
                saved = os.path.join(dirpath, name)
                rel = os.path.relpath(saved, self.dir)
                log(f"mutate: restoring {rel} from an interrupted run")
                shutil.copyfile(saved, os.path.join(ROOT, rel))
                os.unlink(saved)

    def save(self, rel, data):
        saved = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(saved), exist_ok=True)
        with open(saved, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def drop(self, rel):
        os.unlink(os.path.join(self.dir, rel))


def write(path, data):
    # The mtime moves on: the build recompiles the file, mutated or restored, never a stale object.
    with open(path, "wb") as f:
        f.write(data)


class Terminated(Exception):
    pass


def on_term(signum, frame):
    raise Terminated()


# ---------------------------------------------------------------- build and tests

def run(cmd, timeout=None, quiet=True, env=None):
    """Runs cmd in its own process group; on timeout the whole group is killed. Returns (rc, output)."""
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True, env=env)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return None, out
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise
    if not quiet:
        sys.stdout.write(out)
    return p.returncode, out


def configure(build, jobs):
    cmd = ["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Debug", "-DCCG_SANITIZE=OFF", "-DCCG_FUZZ=OFF",
           "-DCCG_BENCH=OFF", "-DCCG_TESTS=ON"]
    if shutil.which("clang"):
        cmd.append("-DCMAKE_C_COMPILER=clang")
    rc, out = run(cmd)
    if rc != 0:
        sys.stdout.write(out)
        raise SystemExit("mutate: cmake configure failed")


def helper_targets(build):
    """The programs and test helpers (everything but tests, fuzzers, benchmarks and the libraries)."""
    rc, out = run(["cmake", "--build", build, "--target", "help"])
    if rc != 0:
        return None
    names = [line[4:].split()[0] for line in out.splitlines() if line.startswith("... ")]
    return [n for n in names if not NOT_HELPERS.search(n)]


def test_names(build, regex):
    cmd = ["ctest", "--test-dir", build, "-N"]
    if regex:
        cmd += ["-R", regex]
    rc, out = run(cmd)
    return re.findall(r"Test +#\d+: (\S+)", out) if rc == 0 else []


def build_targets(build, targets, jobs):
    cmd = ["cmake", "--build", build, "-j", str(jobs)]
    if targets:
        for t in targets:
            cmd += ["--target", t]
    return run(cmd)


def ctest(build, regex, jobs, timeout):
    env = dict(os.environ, CI="true")  # a skip is a failure: the baseline proves nothing is skipped
    cmd = ["ctest", "--test-dir", build, "--no-tests=error", "-j", str(jobs), "--output-on-failure"]
    if regex:
        cmd += ["-R", regex]
    return run(cmd, timeout=timeout, env=env)


def failed_tests(out):
    return re.findall(r"^\s*\d+ - (\S+) \(", out, re.M)


# ---------------------------------------------------------------- main

def main():
    full = os.environ.get("MUTATE_FULL") == "1"
    only = os.environ.get("MUTATE_ONLY")
    timeout = int(os.environ.get("MUTATE_TIMEOUT", "600"))
    jobs = int(os.environ.get("MUTATE_JOBS", str(os.cpu_count() or 2)))
    build = os.path.join(ROOT, os.environ.get("MUTATE_BUILD_DIR", "build/mutate"))
    files = sorted(glob.glob(os.path.join(ROOT, os.environ.get("MUTATE_FILES", "tests/mutants/*.txt"))))
    if not files:
        raise SystemExit("mutate: no mutant files (tests/mutants/*.txt)")

    mutants = [m for f in files for m in parse_file(f)]
    ids = {}
    for m in mutants:
        if m.mutant in ids:
            raise SystemExit(f"{m.origin}: mutant id {m.mutant} also at {ids[m.mutant]}")
        ids[m.mutant] = m.origin
    if only:
        mutants = [m for m in mutants if re.search(only, m.mutant)]
        if not mutants:
            raise SystemExit(f"mutate: no mutant id matches MUTATE_ONLY={only}")
    for m in mutants:
        validate(m)
    runnable = [m for m in mutants if m.status == "not-run"]
    if os.environ.get("MUTATE_CHECK") == "1":
        for m in mutants:
            if m.status != "not-run":
                log(f"mutate: {m.mutant} ({m.origin}): {m.status}: {m.detail}")
        log(f"mutate: {len(runnable)} of {len(mutants)} mutants apply as written")
        return 0 if len(runnable) == len(mutants) else 1
    log(f"mutate: {len(mutants)} mutants from {len(files)} files, {len(runnable)} runnable"
        + (", whole suite per mutant" if full else ""))

    os.makedirs(build, exist_ok=True)
    lock = open(os.path.join(build, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise SystemExit(f"mutate: another run holds {build}/.lock")
    pristine = Pristine(build)
    pristine.recover()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        return run_all(mutants, runnable, build, full, jobs, timeout, pristine)
    except (KeyboardInterrupt, Terminated):
        log("mutate: interrupted; every file is restored")  # by the finally blocks
        return 130
    finally:
        pristine.recover()


def run_all(mutants, runnable, build, full, jobs, timeout, pristine):
    """Builds, checks the baseline, runs every mutant and prints the table; the exit status."""
    configure(build, jobs)
    helpers = helper_targets(build)
    baseline_ok = True
    if runnable:
        # The selected tests must pass without any mutant, or a "killed" would mean nothing.
        log("mutate: building the unmutated tree")
        rc, out = build_targets(build, None, jobs)
        if rc != 0:
            sys.stdout.write(out[-4000:])
            raise SystemExit("mutate: the unmutated tree does not build")
        # One alternation of exact names: ctest's regular expressions allow only a few groups.
        union = sorted({t for m in runnable for t in test_names(build, m.tests)})
        regex = None if full else "|".join(f"^{re.escape(t)}$" for t in union)
        log("mutate: baseline: " + ("the whole suite" if full else f"{len(union)} tests: {' '.join(union)}"))
        t0 = time.monotonic()
        rc, out = ctest(build, regex, jobs, timeout * 2)
        if rc != 0:
            sys.stdout.write(out[-6000:])
            why = "timeout" if rc is None else ", ".join(failed_tests(out)) or f"ctest exit {rc}"
            log(f"mutate: the baseline FAILS ({why}): no mutant can be judged")
            baseline_ok = False
        else:
            log(f"mutate: baseline passes in {time.monotonic() - t0:.0f} s")

    for n, m in enumerate(runnable if baseline_ok else [], 1):
        log(f"mutate: [{n}/{len(runnable)}] {m.mutant} ({m.file})")
        path = os.path.join(ROOT, m.file)
        original = open(path, "rb").read()
        t0 = time.monotonic()
        pristine.save(m.file, original)
        try:
            write(path, original.replace(m.find.encode(), m.replace.encode(), 1))
            names = test_names(build, None if full else m.tests)
            if not names:
                m.status, m.detail = "no-tests", f"no test matches {m.tests}"
                continue
            targets = None if full or helpers is None else sorted(
                set(helpers) | {t for t in names if t.startswith("test_")})
            rc, out = build_targets(build, targets, jobs)
            if rc != 0:
                err = [l for l in out.splitlines() if "error" in l]
                m.status, m.detail = "build-failed", (err[0] if err else "")[:100]
                continue
            rc, out = ctest(build, None if full else m.tests, jobs, timeout)
            if rc is None:
                m.status, m.detail = "killed", f"timeout after {timeout} s"
            elif rc != 0:
                m.status, m.detail = "killed", "by " + (", ".join(failed_tests(out)) or f"ctest exit {rc}")
            else:
                m.status, m.detail = "SURVIVED", f"{len(names)} tests passed"
        finally:
            write(path, original)
            pristine.drop(m.file)
            m.seconds = time.monotonic() - t0
            log(f"mutate:   {m.status} {m.detail} ({m.seconds:.0f} s)")

    # ---- the table
    w_id = max([len(m.mutant) for m in mutants] + [6])
    w_st = max([len(m.status) for m in mutants] + [6])
    log("")
    log(f"{'mutant':<{w_id}}  {'status':<{w_st}}  {'time':>5}  detail")
    for m in mutants:
        secs = f"{m.seconds:.0f}s" if m.seconds else "-"
        log(f"{m.mutant:<{w_id}}  {m.status:<{w_st}}  {secs:>5}  {m.detail}")
    counts = {}
    for m in mutants:
        counts[m.status] = counts.get(m.status, 0) + 1
    log("")
    log("mutate: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    bad = [m for m in mutants if m.status in ("SURVIVED", "find-not-unique", "invalid", "no-tests")]
    if not baseline_ok or bad:
        log("mutate: FAILED: " + ("the baseline fails" if not baseline_ok else
                                  ", ".join(f"{m.mutant} ({m.status})" for m in bad)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
