"""A throw-away single-node Slurm cluster on this machine, for tests.

Starts its own munged (own socket, key copied from Debian's package) and a slurmctld + slurmd
pair on free ports, with every state, spool, pid and log file in one temporary directory, so it
never touches a cluster that may already run here. Recipe: docs/architecture.md ("Slurm").

    with SlurmCluster() as cluster:
        r = cluster.run(["sbatch", "--wait", ...])

Raises ClusterUnavailable (the test then skips with its reason) when the daemons cannot start:
not root, packages missing, or a daemon that does not come up.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class ClusterUnavailable(RuntimeError):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_from(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


class SlurmCluster:
    def __init__(self, keep=False):
        self.keep = keep
        self.dir = None
        self.env = None
        self._pid_files = []

    # -- set-up ------------------------------------------------------------------------------
    def __enter__(self):
        if os.geteuid() != 0:
            raise ClusterUnavailable("needs root to start munged and slurmd")
        for tool in ("munged", "slurmctld", "slurmd", "sbatch", "sinfo"):
            if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
                raise ClusterUnavailable(f"{tool} is not installed (scripts/setup.sh installs it)")
        try:
            munge_user = pwd.getpwnam("munge")
        except KeyError:
            raise ClusterUnavailable("no munge user (package munge not installed)")
        self.dir = tempfile.mkdtemp(prefix="shmjob-slurm-")
        os.chmod(self.dir, 0o755)  # slurmd's job steps (root) and munged (munge) both reach in
        try:
            self._start_munge(munge_user)
            self._write_conf()
            self._start_slurm()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_munge(self, user):
        mdir = os.path.join(self.dir, "munge")
        os.mkdir(mdir)
        os.chmod(mdir, 0o755)  # munged wants its socket directory searchable by all
        key = os.path.join(mdir, "munge.key")
        shutil.copy("/etc/munge/munge.key", key)
        for p in (mdir, key):
            os.chown(p, user.pw_uid, user.pw_gid)
        os.chmod(key, 0o400)
        self.munge_socket = os.path.join(mdir, "munge.socket")
        pid_file = os.path.join(mdir, "munged.pid")
        r = subprocess.run(
            ["runuser", "-u", "munge", "--", "/usr/sbin/munged", f"--socket={self.munge_socket}",
             f"--key-file={key}", f"--pid-file={pid_file}", f"--log-file={mdir}/munged.log",
             f"--seed-file={mdir}/munged.seed"],
            capture_output=True, text=True)
        if r.returncode != 0:
            raise ClusterUnavailable("munged did not start: " + (r.stderr or r.stdout).strip())
        self._pid_files.append(pid_file)
        r = subprocess.run(f"munge -S {self.munge_socket} -n | unmunge -S {self.munge_socket}",
                           shell=True, capture_output=True, text=True)
        if r.returncode != 0:
            raise ClusterUnavailable("munge credential round trip failed: " + r.stderr.strip())

    def _write_conf(self):
        node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True)
        node_line = node.stdout.splitlines()[0]  # NodeName=<host> CPUs=... RealMemory=...
        self.host = node_line.split()[0].split("=", 1)[1]
        d = self.dir
        for sub in ("state", "spool", "log"):
            os.mkdir(os.path.join(d, sub))
        self.ctld_pid = os.path.join(d, "slurmctld.pid")
        self.slurmd_pid = os.path.join(d, "slurmd.pid")
        self.jobcomp = os.path.join(d, "log", "jobcomp.txt")
        conf = f"""ClusterName=shmjobtest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
MpiDefault=pmix
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={self.ctld_pid}
SlurmdPidFile={self.slurmd_pid}
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
MinJobAge=5
KillWait=10
ReturnToService=2
{node_line} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=main Nodes={self.host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""
        self.conf = os.path.join(d, "slurm.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.env = dict(os.environ, SLURM_CONF=self.conf)

    def _start_slurm(self):
        for argv, pid_file in ((["/usr/sbin/slurmctld", "-c", "-f", self.conf], self.ctld_pid),
                               (["/usr/sbin/slurmd", "-f", self.conf], self.slurmd_pid)):
            r = subprocess.run(argv, env=self.env, capture_output=True, text=True)
            if r.returncode != 0:
                raise ClusterUnavailable(f"{argv[0]} did not start: {(r.stderr or r.stdout).strip()}")
            self._pid_files.append(pid_file)
        deadline = time.time() + 30
        state = ""
        while time.time() < deadline:
            r = subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True, text=True)
            state = r.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.3)
        raise ClusterUnavailable(f"the node did not become idle in 30 s (sinfo says {state!r}); "
                                 f"see {self.dir}/log")

    # -- use ---------------------------------------------------------------------------------
    def run(self, argv, **kwargs):
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(argv, env=kwargs.pop("env", self.env), **kwargs)

    def job_state(self, job_id):
        """The final state from the job completion log (the only record without accounting)."""
        try:
            with open(self.jobcomp) as f:
                for line in f:
                    fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
                    if fields.get("JobId") == str(job_id):
                        return fields.get("JobState")
        except OSError:
            pass
        return None

    def log_tail(self, n=40):
        out = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = os.path.join(self.dir, "log", name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out.append(f"--- {name}\n" + "".join(f.readlines()[-n:]))
        return "\n".join(out)

    # -- tear-down ---------------------------------------------------------------------------
    def __exit__(self, *exc):
        # slurmd first (it owns the job steps), then slurmctld, then munged: each by its pid file.
        for pid_file in reversed(self._pid_files):
            pid = _pid_from(pid_file)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                continue
            deadline = time.time() + 10
            while _alive(pid) and time.time() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._pid_files = []
        if self.dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False
