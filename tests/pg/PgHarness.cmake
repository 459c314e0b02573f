# PgHarness.cmake: the private PostgreSQL 15 server as a ctest fixture named `pg`.
#
# Include this file from any tests/<level>/CMakeLists.txt that needs PostgreSQL (it registers the
# fixture once), then add tests with
#   sg_add_pg_test(NAME name [DB dbname] [PRIVATE_SERVER] COMMAND cmd args...)
# The test runs through `pg_harness.sh exec`, which (re)creates database `dbname` (default: the
# test name, lower-cased, non-alphanumerics replaced by '_') on the private server and runs the
# command with SG_TEST_PG_URL set to its URL; an argument "@PG_URL@" is replaced by the URL too.
# COMMAND may name a target defined earlier, or use $<TARGET_FILE:tgt> for one defined later.
# Every test gets its own database, so pg tests may run in parallel. The server starts before the
# first such test (pg_harness_start, FIXTURES_SETUP) and is stopped and removed after the last
# (pg_harness_stop, FIXTURES_CLEANUP). Missing PostgreSQL binaries make pg_harness_start fail,
# and with it every test that requires the fixture. PRIVATE_SERVER gives the test a server of its
# own (fixture pg_<name>), for tests that restart or stop the server.
#
# The file may be included from several directories in any order: the two variables below are set
# in every including directory, the fixture tests are registered only once (global property).
set(SG_PG_HARNESS ${PROJECT_SOURCE_DIR}/tests/pg/pg_harness.sh)
set(SG_PG_STATE ${PROJECT_BINARY_DIR}/pg-harness)

get_property(sg_pg_fixture_done GLOBAL PROPERTY SG_PG_FIXTURE_REGISTERED)
if(NOT sg_pg_fixture_done)
  set_property(GLOBAL PROPERTY SG_PG_FIXTURE_REGISTERED TRUE)
  add_test(NAME pg_harness_start COMMAND ${SG_PG_HARNESS} start ${SG_PG_STATE})
  add_test(NAME pg_harness_stop COMMAND ${SG_PG_HARNESS} stop ${SG_PG_STATE})
  set_tests_properties(pg_harness_start PROPERTIES FIXTURES_SETUP pg TIMEOUT 120)
  set_tests_properties(pg_harness_stop PROPERTIES FIXTURES_CLEANUP pg TIMEOUT 120)
endif()

function(sg_add_pg_test)
  cmake_parse_arguments(T "PRIVATE_SERVER" "NAME;DB" "COMMAND" ${ARGN})
  if(NOT T_NAME OR NOT T_COMMAND)
    message(FATAL_ERROR "sg_add_pg_test: NAME and COMMAND are required")
  endif()
  if(NOT T_DB)
    string(TOLOWER "${T_NAME}" T_DB)
    string(REGEX REPLACE "[^a-z0-9_]" "_" T_DB "${T_DB}")
  endif()
  list(GET T_COMMAND 0 exe)
  list(REMOVE_AT T_COMMAND 0)
  if(TARGET ${exe})
    set(exe $<TARGET_FILE:${exe}>)
  endif()
  # Paths from the project, not from variables: the caller's directory may not have them.
  set(harness ${PROJECT_SOURCE_DIR}/tests/pg/pg_harness.sh)
  set(state ${PROJECT_BINARY_DIR}/pg-harness)
  set(fixture pg)
  if(T_PRIVATE_SERVER)
    set(state ${PROJECT_BINARY_DIR}/pg-harness-${T_NAME})
    set(fixture pg_${T_NAME})
    add_test(NAME ${T_NAME}_pg_start COMMAND ${harness} start ${state})
    add_test(NAME ${T_NAME}_pg_stop COMMAND ${harness} stop ${state})
    set_tests_properties(${T_NAME}_pg_start PROPERTIES FIXTURES_SETUP ${fixture} TIMEOUT 120)
    set_tests_properties(${T_NAME}_pg_stop PROPERTIES FIXTURES_CLEANUP ${fixture} TIMEOUT 120)
  endif()
  add_test(NAME ${T_NAME}
           COMMAND ${harness} exec ${state} --db ${T_DB} -- ${exe} ${T_COMMAND})
  set_tests_properties(${T_NAME} PROPERTIES FIXTURES_REQUIRED ${fixture})
endfunction()
