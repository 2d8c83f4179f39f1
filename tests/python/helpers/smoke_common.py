"""Pieces shared by test scripts (the benchmark smoke tests, filtered_input_test.py)."""


class Failures:
    """Collects failed checks of one smoke test and reports them at the end."""

    def __init__(self, name):
        self.name = name
        self.failures = []

    def check(self, ok, what):
        """Records `what` as failed unless `ok`; returns `ok`."""
        if not ok:
            self.failures.append(what)
        return ok

    def __bool__(self):
        """True once a check has failed."""
        return bool(self.failures)

    def report(self):
        """Prints each failure and a summary line; returns the exit code."""
        for f in self.failures:
            print("FAIL:", f)
        print("%s: %s" % (self.name, "ok" if not self.failures else "%d failure(s)" % len(self.failures)))
        return 1 if self.failures else 0
