"""Checks that a test's jobs left nothing in /dev/shm.

Tests run in parallel, so another test's running job may own entries for a while; entries of
ours would never go away. So: wait (up to a minute) for the new entries to disappear.
"""
import os
import time


def shm_entries():
    return set(os.listdir("/dev/shm"))


def leftover_entries(before, patience_s=60.0):
    deadline = time.time() + patience_s
    while (left := shm_entries() - before) and time.time() < deadline:
        time.sleep(0.5)
    return sorted(left)
