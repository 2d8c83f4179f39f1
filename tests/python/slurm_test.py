#!/usr/bin/env python3
"""shmjob under a real single-node Slurm cluster started by this test (slurm_cluster.py).

1. `sbatch --wait slurm/run.sh <default config>`: the batch script exits 0, Slurm records the job
   COMPLETED, the output verifies (verify_output.py, every matrix), and the metrics log and the
   HTML report sit next to the output, as the job's output file says. The output also prints the
   live dashboard's command (token from a file only the user reads) and the ssh -L tunnel; that
   command, run as printed, serves the job (complete) and refuses requests without the token.
   The same with SHMJOB_LAUNCHER=mpirun (the fallback where srun cannot start MPI jobs).
2. Time limit: a longer job gets the time-limit warning the script asks for (SIGUSR1 to the batch
   shell, sent with `scancel -b --signal=USR1`, exactly what `--signal=B:USR1@120` delivers); the
   script forwards it, the ranks drain and the output is "interrupted" (exit 4). A second
   `sbatch --wait slurm/run.sh CONFIG --resume` completes it, and the output verifies.
3. Requeue: a `--requeue` job is requeued mid-run (`scontrol requeue`, what preemption does); its
   second attempt resumes the first one's output (SLURM_RESTART_COUNT) and completes it.

usage: slurm_test.py SHMJOB_BINARY          (exit 77 = skipped: the daemons cannot start here)
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import h5py

from helpers.slurm_cluster import ClusterUnavailable, SlurmCluster

HERE = os.path.dirname(os.path.abspath(__file__))
HELPERS = os.path.join(HERE, "helpers")
ROOT = os.path.dirname(os.path.dirname(HERE))
failures = []


def check(condition, message, detail=""):
    print(("ok    " if condition else "FAIL  ") + message)
    if not condition:
        failures.append(message)
        if detail:
            print("      " + detail.replace("\n", "\n      "))
    return condition


def write_config(tmp, name, count, rows=1000):
    with open(os.path.join(ROOT, "jobs", "default.json")) as f:
        config = json.load(f)
    config["job"] = name
    config["output_dir"] = os.path.join(tmp, name)
    config["matrices"]["count"] = count
    config["matrices"]["rows"] = config["matrices"]["cols"] = rows
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    return path, config


def master_status(config):
    path = os.path.join(config["output_dir"], config["job"] + ".h5")
    if not os.path.exists(path):
        return None
    with h5py.File(path, "r") as f:
        s = f.attrs["status"]
        return s.decode() if isinstance(s, bytes) else str(s)


def verify(config, plugins, resumed=False):
    """verify_output.py (every matrix against its regeneration) for a one-run output; a resumed
    output maps runs of several shards, which `shmjob verify` checks (chunks, crc32, VDS)."""
    master = os.path.join(config["output_dir"], config["job"] + ".h5")
    if resumed:
        r = subprocess.run([os.environ["SHMJOB_BIN"], "verify", master], capture_output=True, text=True)
        return r.returncode == 0, (r.stdout + r.stderr).strip()
    r = subprocess.run([sys.executable, os.path.join(HELPERS, "verify_output.py"), master,
                        "--expect-count", str(config["matrices"]["count"]), "--plugin-dir", plugins],
                       capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def submit(cluster, tmp, args, wait=True, env=None):
    out = os.path.join(tmp, "slurm-%j.out")
    argv = ["sbatch", "--parsable", f"--chdir={ROOT}", f"--output={out}"]
    argv += ["--wait"] if wait else []
    r = cluster.run(argv + args, timeout=600, env=env or cluster.env)
    job_id = r.stdout.strip().split(";")[0]
    return r, job_id, out.replace("%j", job_id)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_for(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def written(config):
    """Matrices written so far, from the metrics samples' writer counters."""
    path = os.path.join(config["output_dir"], config["metrics"].get("path") or config["job"] + ".metrics.jsonl")
    best = 0
    for line in read(path).splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("type") == "sample":
            best = max(best, rec.get("written", 0))
    return best


def final_state(cluster, job_id, timeout=120):
    state = None
    wait_for(lambda: (state := cluster.job_state(job_id)) is not None, timeout)
    return cluster.job_state(job_id)


def test_default_job(cluster, tmp, plugins):
    path, config = write_config(tmp, "slurm_default", 200)
    r, job_id, out = submit(cluster, tmp, ["slurm/run.sh", path])
    log = read(out)
    check(r.returncode == 0, f"sbatch --wait slurm/run.sh: exit {r.returncode}", r.stderr + log)
    check(final_state(cluster, job_id) == "COMPLETED", f"job {job_id} COMPLETED",
          f"state {cluster.job_state(job_id)}")
    check("srun --mpi=pmix" in log, "launched with srun (PMIx)", log[-2000:])
    ok, detail = verify(config, plugins)
    check(ok, "output verifies (every matrix)", detail[-3000:])
    metrics = os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")
    report = os.path.join(config["output_dir"], "report.html")
    check(os.path.exists(report) and os.path.getsize(report) > 10000, "report.html next to the output")
    check(metrics in log and report in log, "job output says where the metrics log and report are",
          log[-1500:])
    with open(metrics) as f:
        start = json.loads(f.readline())
    launch = json.dumps(start.get("launch", {}))
    check(job_id in launch, "metrics start record names the Slurm job id", launch)
    check_dashboard_command(cluster, log, config)


def check_dashboard_command(cluster, log, config):
    """The dashboard command run.sh printed, run as printed: it lists the job, with the token only."""
    import signal
    import urllib.error
    import urllib.request
    lines = [line.split("run.sh:", 1)[1].strip() for line in log.splitlines() if "analysis/dashboard.py" in line]
    if not check(len(lines) == 1 and "SHMJOB_DASHBOARD_TOKEN=$(cat " in lines[0] and "ssh -N -L" in log,
                 "job output prints the dashboard command (token from a file) and the ssh -L tunnel", log[-1500:]):
        return
    token_file = cluster.env["SHMJOB_DASHBOARD_TOKEN_FILE"]
    check(os.stat(token_file).st_mode & 0o077 == 0, "the token file is readable by its owner only")
    with open(token_file) as f:
        token = f.read().strip()
    check(token not in log, "the token itself is not in the job's output")
    proc = subprocess.Popen(["bash", "-c", lines[0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        url = proc.stdout.readline().split()[1]
        base = url.split("?")[0]
        check(f"token={token}" in url, "the dashboard prints its URL with the token", url)
        jobs = None
        for _ in range(100):
            try:
                request = urllib.request.Request(base + "api/jobs", headers={"Authorization": f"Bearer {token}"})
                jobs = json.load(urllib.request.urlopen(request, timeout=10))["jobs"]
                break
            except OSError:
                time.sleep(0.2)
        check(jobs is not None and [(j["name"], j["status"]) for j in jobs] == [(config["job"], "complete")],
              "the dashboard lists the job, complete", str(jobs)[:500])
        try:
            urllib.request.urlopen(base + "api/jobs", timeout=10)
            refused = None
        except urllib.error.HTTPError as e:
            refused = e.code
        check(refused == 401, f"the dashboard refuses a request without the token ({refused})")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)


def test_mpirun_launcher(cluster, tmp, plugins):
    """Where srun cannot start MPI jobs, run.sh launches with mpirun inside the allocation."""
    path, config = write_config(tmp, "slurm_mpirun", 40, rows=300)
    env = dict(cluster.env, SHMJOB_LAUNCHER="mpirun")
    r, job_id, out = submit(cluster, tmp, ["--ntasks=4", "slurm/run.sh", path], env=env)
    log = read(out)
    check(r.returncode == 0 and "run.sh: mpirun" in log, "SHMJOB_LAUNCHER=mpirun job completes",
          r.stderr + log[-2000:])
    ok, detail = verify(config, plugins)
    check(ok, "mpirun-launched output verifies", detail[-3000:])


def test_time_limit_then_resume(cluster, tmp, plugins):
    path, config = write_config(tmp, "slurm_timelimit", 600)
    r, job_id, out = submit(cluster, tmp, ["slurm/run.sh", path], wait=False)
    if not check(r.returncode == 0 and job_id, "sbatch (no wait) accepted the job", r.stderr):
        return
    started = wait_for(lambda: written(config) >= 20, 180)
    check(started, "job wrote matrices before the warning", read(out)[-2000:])
    # What --signal=B:USR1@120 sends two minutes before the time limit.
    s = cluster.run(["scancel", "-b", "--signal=USR1", job_id])
    check(s.returncode == 0, "scancel -b --signal=USR1", s.stderr)
    state = final_state(cluster, job_id, 180)
    log = read(out)
    check("forwarding USR1" in log, "run.sh forwarded the warning to the ranks", log[-2000:])
    check(master_status(config) == "interrupted", "first job left an 'interrupted' master",
          f"status {master_status(config)}, job state {state}\n{log[-2000:]}")
    check("exited with 4" in log, "interrupted job exits with 4", log[-1500:])

    r, job_id2, out2 = submit(cluster, tmp, ["slurm/run.sh", path, "--resume"])
    check(r.returncode == 0, f"second sbatch --wait ... --resume: exit {r.returncode}", read(out2)[-2000:])
    check(master_status(config) == "complete", "resumed output is complete")
    ok, detail = verify(config, plugins, resumed=True)
    check(ok, "resumed output verifies (shmjob verify)", detail[-3000:])


def test_requeue_resumes(cluster, tmp, plugins):
    path, config = write_config(tmp, "slurm_requeue", 600)
    r, job_id, out = submit(cluster, tmp, ["--requeue", "slurm/run.sh", path], wait=False)
    if not check(r.returncode == 0 and job_id, "sbatch --requeue accepted the job", r.stderr):
        return
    wait_for(lambda: written(config) >= 20, 180)
    q = cluster.run(["scontrol", "requeue", job_id])
    check(q.returncode == 0, "scontrol requeue", q.stderr)
    # A requeued job waits ~2 minutes (BeginTime) before its next attempt: start it now.
    def pending_then_released():
        state = cluster.run(["squeue", "-h", "-j", job_id, "-o", "%T"]).stdout.strip()
        if state == "PENDING":
            cluster.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"])
            return True
        return False
    check(wait_for(pending_then_released, 60), "requeued job pending again, released")
    # The second attempt appends to the same output file (sbatch --open-mode default is
    # truncate for the first attempt, append for requeued ones on 22.05: read whatever is there).
    done = wait_for(lambda: master_status(config) == "complete", 300)
    log = read(out)
    check(done, "requeued job completed the output", log[-2000:])
    check("resuming" in log, "second attempt resumed (SLURM_RESTART_COUNT > 0)", log[-2000:])
    ok, detail = verify(config, plugins, resumed=True)
    check(ok, "requeued output verifies (shmjob verify)", detail[-3000:])


def main():
    binary = os.path.abspath(sys.argv[1])
    plugins = os.path.join(os.path.dirname(binary), "plugins")
    os.environ["SHMJOB_BIN"] = binary
    with tempfile.TemporaryDirectory(prefix="shmjob-slurm-test-") as tmp:
        os.chmod(tmp, 0o755)
        try:
            cluster = SlurmCluster()
            cluster.__enter__()
        except ClusterUnavailable as e:
            print(f"SKIP: no Slurm cluster here: {e}")
            return 77
        try:
            cluster.env["SHMJOB_BIN"] = binary
            cluster.env["SHMJOB_DASHBOARD_TOKEN_FILE"] = os.path.join(tmp, "dashboard", "token")
            with socket.socket() as s:  # a free port for the dashboard command the job prints
                s.bind(("127.0.0.1", 0))
                cluster.env["SHMJOB_DASHBOARD_PORT"] = str(s.getsockname()[1])
            for test in (test_default_job, test_mpirun_launcher, test_time_limit_then_resume, test_requeue_resumes):
                print(f"-- {test.__name__}")
                test(cluster, tmp, plugins)
        finally:
            if failures:
                print(cluster.log_tail())
            cluster.__exit__(None, None, None)
    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
