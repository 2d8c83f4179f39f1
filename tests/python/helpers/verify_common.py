"""Pieces shared by the output verifiers (verify_output.py, verify_ingest.py)."""


class Problems:
    """Collects problems; prints them as they come, up to a limit (0: no limit)."""

    def __init__(self, limit):
        self.limit = limit
        self.count = 0

    def add(self, message):
        self.count += 1
        if self.limit <= 0 or self.count <= self.limit:
            print("problem: " + message, flush=True)

    def check(self, condition, message):
        if not condition:
            self.add(message)
        return bool(condition)

    def finish(self):
        if self.limit > 0 and self.count > self.limit:
            print("... and %d more problems (not shown; --max-problems 0 shows all)"
                  % (self.count - self.limit))


def as_text(value):
    """An HDF5 string attribute or element as str (h5py gives bytes or str)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def level_bounds(comp):
    """(lowest, highest) zstd level a matrix of a job with config.compression `comp` may have:
    the level, or level_range with "level": "auto"."""
    if comp.get("level") == "auto":
        return tuple(comp.get("level_range", [1, 22]))
    return comp.get("level"), comp.get("level")


def filter_pipeline(dset):
    """[(filter id, cd_values tuple), ...] of an h5py dataset, in pipeline order."""
    dcpl = dset.id.get_create_plist()
    out = []
    for i in range(dcpl.get_nfilters()):
        code, _flags, values, _name = dcpl.get_filter(i)
        out.append((int(code), tuple(int(v) for v in values)))
    return out
