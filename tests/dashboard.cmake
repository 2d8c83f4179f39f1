# Live dashboard (issue 23): analysis/dashboard.py over real HTTP and WebSocket connections;
# headless Chromium through Selenium while a real job runs; a load test with 5 running jobs and
# 50 WebSocket clients. `ctest -L dashboard` runs the three (about a minute on 2 cores).
# Included from tests/CMakeLists.txt.

# Token, Host/Origin, traversal, symlinks, bounded reads, statuses: no MPI, no browser.
shmjob_python_test(dashboard_security dashboard_security_test.py)
set_tests_properties(dashboard_security PROPERTIES LABELS "python;dashboard" SKIP_RETURN_CODE 77 TIMEOUT 300)
# A real job watched in headless Chromium: the count rises without a reload, a server restart.
shmjob_mpi_script(dashboard_live dashboard_live_test.py $<TARGET_FILE:shmjob>)
# 5 real jobs, 50 WebSocket clients, twice: final state everywhere, logs read once, flat RSS.
shmjob_mpi_script(dashboard_load dashboard_load_test.py $<TARGET_FILE:shmjob>)
set_tests_properties(dashboard_live dashboard_load PROPERTIES LABELS "mpi;dashboard")
