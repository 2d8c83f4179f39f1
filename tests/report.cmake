# Metrics log and report (issue 5): units for the latency histogram and the bottleneck verdict;
# real mpirun runs whose logs are validated against analysis/metrics.schema.json and turned into
# reports that headless Chromium opens. Included from tests/CMakeLists.txt.

shmjob_unit_test(unit_metrics unit/metrics_test.cpp unit/stall_watch_test.cpp)
target_link_libraries(unit_metrics PRIVATE shmjob_metrics)
target_include_directories(unit_metrics PRIVATE ${PROJECT_SOURCE_DIR}/src)

# A real run -> report: headline equals job_end, Chromium shows it without console errors, the
# screenshot is not blank; --follow on a growing log.
shmjob_mpi_script(report_from_run report_test.py $<TARGET_FILE:shmjob>)
# Killed and interrupted runs: truncated logs still give a report that says so; signal events.
shmjob_mpi_script(report_unfinished_runs report_unfinished_test.py $<TARGET_FILE:shmjob>)
# Known bottlenecks: too few compressors, and a throttled writer (testing.writer_delay_ms).
shmjob_mpi_script(report_bottlenecks bottleneck_test.py $<TARGET_FILE:shmjob>)
