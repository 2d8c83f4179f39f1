#!/usr/bin/python3
"""Says whether a fuzz target's failure report (libFuzzer + ASan/UBSan output) is a crash inside
HDF5 itself or a bug of shmjob's (or of the harness).

HDF5 (Debian's 1.10, not instrumented) crashes or hangs on some corrupt files on its own: h5dump
does too. Such a failure is upstream when the innermost frame that is neither libc nor the
sanitizer/libFuzzer runtime is in libhdf5 and, for a memory error, the memory was HDF5's own (a
write by HDF5 past a buffer shmjob allocated is shmjob's bug: it sized the buffer). Anything
else, UBSan reports, leaks, harness BUG lines, out-of-memory without a stack, counts as ours.

    usage: fuzz_triage.py LOG      exit 0: upstream (HDF5), 1: ours; prints one line saying why
"""
import re
import sys

# "#3 0x55d7 in FUNCTION /src/file.cpp:12:3" or "... in FUNCTION (/lib/libx.so+0x1f) (BuildId: ..)"
FRAME = re.compile(r"^\s+#(\d+) 0x[0-9a-f]+(?: in (.+?))?((?:\s+/\S+:\d+(?::\d+)?|\s+\([^()]*\+0x[0-9a-f]+\))?"
                   r"(?: \(BuildId: [0-9a-f]+\))?)\s*$")
RUNTIME_FUNCTIONS = re.compile(r"^(__interceptor_|__asan|__sanitizer|__lsan|__ubsan|fuzzer::|__interception|"
                               r"__memcpy|__memmove|__memset|__mem|__str|__restore_rt|__libc_|_start$|main$)")
RUNTIME_PLACES = ("libc.so", "/sysdeps/", "string/../", "libstdc++", "libgcc_s")
# A frame in the target's own binary without a source location: an interceptor (pread, memcpy),
# libFuzzer or libc++ inlined into it; shmjob's own frames carry file:line.
BINARY_WITHOUT_SOURCE = re.compile(r"^\s*\((?![^)]*\.so)[^)]*\+0x[0-9a-f]+\)")
MEMORY_ERRORS = ("heap-buffer-overflow", "heap-use-after-free", "double-free", "attempting free",
                 "use-after-poison", "global-buffer-overflow", "dynamic-stack-buffer-overflow")


def stacks(lines):
    """The report's stacks, in order: lists of (function, rest of the frame line)."""
    out, current = [], None
    for line in lines:
        m = FRAME.match(line)
        if m:
            if m.group(1) == "0" or current is None:
                current = []
                out.append(current)
            current.append((m.group(2) or "", m.group(3)))
        else:
            current = None
    return out


def innermost(stack):
    """The first frame that is not libc or the sanitizer/fuzzer runtime, as text."""
    for function, rest in stack:
        if RUNTIME_FUNCTIONS.match(function) or any(p in rest for p in RUNTIME_PLACES) or \
                BINARY_WITHOUT_SOURCE.match(rest):
            continue
        return f"{function} {rest.strip()}".strip()
    return ""


def triage(text):
    lines = text.splitlines()
    if "fuzz: BUG:" in text:
        return False, "the harness found a shmjob bug (fuzz: BUG line)"
    if "runtime error:" in text:
        return False, "UndefinedBehaviorSanitizer report (shmjob's code: HDF5 is not instrumented)"
    if "LeakSanitizer" in text:
        return False, "leak"
    error = next((l for l in lines if "ERROR:" in l), "")
    if not error:
        return False, "no sanitizer or libFuzzer error line"
    found = stacks(lines[lines.index(error):])
    if not found:
        return False, f"no stack: {error.strip()}"
    where = innermost(found[0])
    if "libhdf5" not in where:
        return False, f"{error.strip()} at {where or '?'}"
    if any(kind in error for kind in MEMORY_ERRORS):
        allocated = next((i for i, l in enumerate(lines) if "allocated by thread" in l), None)
        owner = innermost(stacks(lines[allocated:])[0]) if allocated is not None else ""
        if "libhdf5" not in owner:
            return False, f"{error.strip()}: HDF5 went past memory shmjob allocated at {owner or '?'}"
    kind = error.split("ERROR:", 1)[1].strip()
    return True, f"inside HDF5 ({kind[:80]}) at {where[:160]}"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], errors="replace") as f:
        upstream, why = triage(f.read())
    print(("upstream HDF5: " if upstream else "shmjob: ") + why)
    sys.exit(0 if upstream else 1)


if __name__ == "__main__":
    main()
