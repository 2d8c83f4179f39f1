"""Pieces the benchmark scripts share: how to find and launch shmjob, and machine load."""
import os
import shutil
import signal
import statistics
import subprocess

# Open MPI as root, more ranks than cores (the benchmarks run on 2-core machines).
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}
TICK = os.sysconf("SC_CLK_TCK")
ROLES = ("producer", "compressor", "writer", "idle")


def default_tool(name):
    """A program built next to bench/: build-bench/ then build/ (top level or bench/), else PATH."""
    here = os.path.dirname(os.path.abspath(__file__))
    for build in ("build-bench", "build"):
        for sub in ("bench", ""):
            path = os.path.normpath(os.path.join(here, "..", build, sub, name))
            if os.access(path, os.X_OK) and os.path.isfile(path):
                return path
    return shutil.which(name) or name


def default_shmjob():
    return default_tool("shmjob")


def machine_jiffies():
    """(busy, steal, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal, sum(fields[:8])


def run_bounded(cmd, env, timeout, cwd=None):
    """Runs cmd in its own process group; on timeout SIGTERMs mpirun (it tears the ranks down),
    then SIGKILLs that group. Returns (exit code or None on timeout, stdout, stderr)."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        return None, out, "timed out after %s s (killed)\n%s" % (timeout, err or "")


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec):
    return "-" if value is None else format(value, spec)
