#!/usr/bin/python3
"""Every config key the parser accepts is documented in docs/config.md.

    config_docs_test.py SHMJOB [--doc docs/config.md]

The keys are not listed here: they are discovered from the binary. The parser rejects an
unknown key with `unknown key "<path>.<key>" (known keys: a, b, c)` (src/config/config.cpp, class
Section; src/config/input_config.cpp), so a bogus key at the top level lists the top-level keys,
and a bogus key inside a key's object lists that section's keys; a key whose object with a bogus
key gives no such message for its own path is a leaf. Each probe is `shmjob --plan --ranks 3
CONFIG` (no MPI, nothing written: the config fails to parse, exit code 2), run in a temporary
directory. Then every dotted leaf key (`watchdog.stall_s`, `compression.level`) must appear as
`` `key` `` in the first cell of a table row, or in a heading, of docs/config.md.
Exit 0: all documented; 1: keys missing (each printed) or discovery found too few keys.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

BOGUS = "zz_not_a_key"
MIN_KEYS = 30  # sanity check: fewer means discovery itself broke
UNKNOWN = re.compile(r'unknown key "([^"]*)" \(known keys: ([^)]*)\)')


def merge(base, extra):
    """`extra` laid over `base`, objects merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def nest(path, value):
    """{"a": {"b": value}} for path ["a", "b"]."""
    for key in reversed(path):
        value = {key: value}
    return value


class Prober:
    def __init__(self, shmjob, workdir):
        self.shmjob = shmjob
        self.workdir = workdir
        self.runs = 0
        # The smallest job that parses (docs/config.md: only these three are required), so that
        # probes of sections parsed after "matrices" get that far. Output would go to the temp dir.
        self.base = {"output_dir": os.path.join(workdir, "out"),
                     "matrices": {"count": 1, "rows": 1, "cols": 1}}

    def error(self, document):
        """shmjob's error line for this config (it must fail)."""
        self.runs += 1
        path = os.path.join(self.workdir, "probe-%d.json" % self.runs)
        with open(path, "w") as f:
            json.dump(document, f)
        run = subprocess.run([self.shmjob, "--plan", "--ranks", "3", path], cwd=self.workdir,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        if run.returncode == 0:
            raise SystemExit("FAIL: a probe config parsed (it must not): %s" % json.dumps(document))
        return run.stderr

    def known_keys(self, path):
        """The keys of the object at `path` (a list of keys), or None if it is not a section."""
        probe = nest(path, {BOGUS: 1})
        want = ".".join(path + [BOGUS])
        # With the minimal job first; alone for sections that exclude it ("input" vs "matrices").
        for document in (merge(self.base, probe), probe):
            match = UNKNOWN.search(self.error(document))
            if match and match.group(1) == want:
                return [k.strip() for k in match.group(2).split(",") if k.strip()]
        return None

    def discover(self, path=()):
        """Every leaf key under `path` as a dotted name; sections as well, separately."""
        leaves, sections = [], []
        keys = self.known_keys(list(path))
        if keys is None:
            return None
        for key in keys:
            sub = list(path) + [key]
            found = self.discover(tuple(sub))
            if found is None:
                leaves.append(".".join(sub))
            else:
                sections.append(".".join(sub))
                leaves += found[0]
                sections += found[1]
        return leaves, sections


def documented(doc_text):
    """Keys written as `key` in the first cell of a table row or in a heading."""
    keys = set()
    for line in doc_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = stripped.split("|")
            text = cells[1] if len(cells) > 1 else ""
        elif stripped.startswith("#"):
            text = stripped
        else:
            continue
        keys.update(re.findall(r"`([^`]+)`", text))
    return keys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shmjob", help="path to the shmjob binary")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--doc", default=os.path.join(here, "..", "..", "docs", "config.md"),
                        help="the config reference (default: docs/config.md of this checkout)")
    args = parser.parse_args()
    shmjob = os.path.abspath(args.shmjob)

    with tempfile.TemporaryDirectory(prefix="shmjob-config-docs-") as workdir:
        prober = Prober(shmjob, workdir)
        found = prober.discover()
        if found is None:
            print("FAIL: the top level did not answer a bogus key with 'unknown key ... (known keys: ...)'")
            return 1
        leaves, sections = found
        runs = prober.runs

    with open(args.doc, encoding="utf-8") as f:
        in_doc = documented(f.read())
    missing = [key for key in leaves if key not in in_doc]
    print("discovered %d keys in %d sections with %d probes: %s" %
          (len(leaves), len(sections), runs, ", ".join(leaves)))
    for key in missing:
        print("MISSING from %s: `%s`" % (os.path.normpath(args.doc), key))
    if len(leaves) < MIN_KEYS:
        print("FAIL: only %d keys discovered (expected at least %d): discovery is broken" % (len(leaves), MIN_KEYS))
        return 1
    if missing:
        print("FAIL: %d of %d config keys are not documented in %s (a table row or heading with `key`)" %
              (len(missing), len(leaves), os.path.normpath(args.doc)))
        return 1
    print("PASS: every config key is documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
