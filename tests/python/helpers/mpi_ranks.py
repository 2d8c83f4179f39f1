"""The processes of a running mpirun job, for tests that signal or stop one rank."""
import subprocess


def rank_pids(mpirun_pid):
    """{world rank: pid} of mpirun's children (Open MPI sets OMPI_COMM_WORLD_RANK)."""
    out = subprocess.run(["pgrep", "-P", str(mpirun_pid)], capture_output=True, text=True).stdout
    ranks = {}
    for pid in map(int, out.split()):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
            ranks[int(env[b"OMPI_COMM_WORLD_RANK"])] = pid
        except (OSError, KeyError, ValueError):
            pass
    return ranks
