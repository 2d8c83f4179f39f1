"""Running a test script's named cases, each in a temporary directory of its own."""
import subprocess
import tempfile


class Failed(Exception):
    """A case's check failed; the message says which."""


def run_cases(cases, chosen, prefix, run):
    """Runs `run(name, case, cwd)` for each chosen name of `cases` ({name: function}) in a fresh
    temporary directory, prints "ok:"/"FAIL:" per case and a summary; returns the exit code."""
    passed = failed = 0
    for name in chosen or list(cases):
        with tempfile.TemporaryDirectory(prefix=prefix) as cwd:
            try:
                run(name, cases[name], cwd)
                print("ok:", name)
                passed += 1
            except (Failed, subprocess.TimeoutExpired, subprocess.CalledProcessError) as e:
                print("FAIL:", name, "-", e)
                failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
