# A real S3 server (Swift with s3api, from Debian's packages; scripts/s3-server.sh) on 127.0.0.1
# for the tests that talk S3. Included from the top-level CMakeLists.txt when tests are built.
#
# Contract for tests that need the server:
#   - set_tests_properties(<test> PROPERTIES FIXTURES_REQUIRED s3server ...): ctest then runs
#     s3_server_start before and s3_server_stop after them (also with -R <test>). A label `s3`
#     lets `ctest -L s3` / `-LE s3` pick them.
#   - Read ${WEIGHTFS_S3_ENV_FILE} (= ${CMAKE_BINARY_DIR}/s3-server/env; the tests' environment
#     gets it as WEIGHTFS_S3_ENV_FILE when they use WEIGHTFS_S3_TEST_ENVIRONMENT below): KEY=VALUE
#     lines, no quoting,
#       AWS_ENDPOINT_URL=http://127.0.0.1:PORT   (path-style: http://127.0.0.1:PORT/BUCKET/KEY)
#       AWS_ACCESS_KEY_ID=weightfs:tester        (Swift's tempauth form account:user)
#       AWS_SECRET_ACCESS_KEY=<random per start>
#       AWS_REGION=us-east-1                     (SigV4 / AWS4-HMAC-SHA256, service s3)
#       WEIGHTFS_S3_DIR=<the state directory>
#     Lines may be added later: ignore keys you do not know.
#   - No bucket exists at start. Create your own with a name unique to the test (several tests
#     share the server, in parallel under ctest -j) and delete it when done.
#   - If the file is missing, the server could not run here (s3_server_start was skipped, exit
#     77, or failed): skip (exit 77 with SKIP_RETURN_CODE 77, or GTEST_SKIP plus
#     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"), but fail when the environment has
#     WEIGHTFS_REQUIRE_S3=1 (scripts/test.sh sets it under CI). ctest still runs the tests of a
#     skipped fixture setup, so every test must make this check itself.
#   - Never stop or restart the server from a test; never write under WEIGHTFS_S3_DIR.
# What the server does (from scripts/s3-probe.py): PUT/GET/HEAD/DELETE, ranged GET (206),
# ListObjectsV2 with continuation, CopyObject, multipart uploads. Conditional PUTs (If-Match,
# If-None-Match) are answered 501 NotImplemented: Swift's s3api does not support them.

set(WEIGHTFS_S3_DIR ${CMAKE_BINARY_DIR}/s3-server)
set(WEIGHTFS_S3_ENV_FILE ${WEIGHTFS_S3_DIR}/env)
set(WEIGHTFS_S3_TEST_ENVIRONMENT "WEIGHTFS_S3_ENV_FILE=${WEIGHTFS_S3_ENV_FILE}")
set(_weightfs_s3_fixture ${CMAKE_CURRENT_LIST_DIR}/s3_fixture.sh)

add_test(NAME s3_server_start COMMAND bash ${_weightfs_s3_fixture} start ${WEIGHTFS_S3_DIR})
add_test(NAME s3_server_stop COMMAND bash ${_weightfs_s3_fixture} stop ${WEIGHTFS_S3_DIR})
add_test(NAME s3_server_smoke COMMAND bash ${_weightfs_s3_fixture} smoke ${WEIGHTFS_S3_DIR})
# Start waits up to 90 s for the server (about 10-15 s on two busy cores).
set_tests_properties(s3_server_start PROPERTIES FIXTURES_SETUP s3server LABELS s3 TIMEOUT 180
  SKIP_RETURN_CODE 77)
set_tests_properties(s3_server_stop PROPERTIES FIXTURES_CLEANUP s3server LABELS s3 TIMEOUT 60)
set_tests_properties(s3_server_smoke PROPERTIES FIXTURES_REQUIRED s3server LABELS s3 TIMEOUT 120
  SKIP_RETURN_CODE 77 ENVIRONMENT "${WEIGHTFS_S3_TEST_ENVIRONMENT}")
unset(_weightfs_s3_fixture)
