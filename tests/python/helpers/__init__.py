"""Modules and scripts the tests in tests/python/ use; none of them is a test itself.

Tests import them as `from helpers.shm_check import ...` (a test run as
`python3 tests/python/x_test.py` has tests/python/ first on sys.path). The checkers run as
scripts (verify_output.py, verify_ingest.py, h5dump_check.py, make_inputs.py) are called by path,
`python3 tests/python/helpers/verify_output.py ...`; they import their siblings (verify_common)
by plain name, as their own directory is then first on sys.path.
"""
