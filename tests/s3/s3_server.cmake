# Real S3 servers from Debian's packages on 127.0.0.1 (scripts/s3-server.sh) for the tests that
# talk S3. Included from the top-level CMakeLists.txt when tests are built. Two fixtures:
#   s3server      Swift 2.30 + s3api (tests s3_server_start/_stop/_smoke); the default target
#   s3server_rgw  Ceph 16 radosgw on a one-OSD cluster (tests s3_rgw_start/_stop/_smoke); the
#                 one that honours conditional PUTs, for compare-and-swap tests
#
# Contract for tests that need a server:
#   - set_tests_properties(<test> PROPERTIES FIXTURES_REQUIRED s3server LABELS s3
#       ENVIRONMENT "${WEIGHTFS_S3_TEST_ENVIRONMENT}")   (or s3server_rgw and
#     ${WEIGHTFS_S3_RGW_TEST_ENVIRONMENT}): ctest runs the fixture's start test before and its
#     stop test after them, also under -R <test>. The environment variable WEIGHTFS_S3_ENV_FILE
#     then names the settings file: ${CMAKE_BINARY_DIR}/s3-server/env for s3server,
#     ${CMAKE_BINARY_DIR}/s3-server-rgw/env for s3server_rgw (CMake variables
#     WEIGHTFS_S3_ENV_FILE and WEIGHTFS_S3_RGW_ENV_FILE).
#   - The file has KEY=VALUE lines, no quoting; ignore keys you do not know:
#       AWS_ENDPOINT_URL=http://127.0.0.1:PORT   path-style: http://127.0.0.1:PORT/BUCKET/KEY
#       AWS_ACCESS_KEY_ID=...                     Swift: "weightfs:tester" (tempauth account:user)
#       AWS_SECRET_ACCESS_KEY=...                 random per start
#       AWS_REGION=us-east-1                      SigV4 (AWS4-HMAC-SHA256), service s3
#       WEIGHTFS_S3_DIR=...                       the server's state directory: do not touch
#   - No bucket exists at start. Create buckets named for your test (tests share the server and
#     run in parallel under ctest -j) and delete them when done. Never stop the server.
#   - If the file is missing the server could not run here (the start test was skipped, exit
#     77, or failed). ctest still runs the tests of a skipped fixture setup, so each test checks
#     itself: skip (exit 77 with SKIP_RETURN_CODE 77, or GTEST_SKIP with
#     SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"), but fail when the environment has
#     WEIGHTFS_REQUIRE_S3=1 (scripts/test.sh sets it under CI).
# What the servers do (scripts/s3-probe.py, run by the smoke tests; both servers pass all of
# these): PUT/GET/HEAD/DELETE, 404 NoSuchKey, 403 on a bad signature, 400 when the body does
# not match x-amz-content-sha256, ranged GET (206), ListObjectsV2 continuation, multipart
# uploads, CopyObject. Conditional PUTs: Swift answers 501 NotImplemented to any If-Match or
# If-None-Match; rgw honours If-None-Match: * and If-Match, the latter only with the bare hex
# ETag (the quoted form gets 412), and returns an empty <ETag> from CompleteMultipartUpload.

set(WEIGHTFS_S3_ENV_FILE ${CMAKE_BINARY_DIR}/s3-server/env)
set(WEIGHTFS_S3_TEST_ENVIRONMENT "WEIGHTFS_S3_ENV_FILE=${WEIGHTFS_S3_ENV_FILE}")
set(WEIGHTFS_S3_RGW_ENV_FILE ${CMAKE_BINARY_DIR}/s3-server-rgw/env)
set(WEIGHTFS_S3_RGW_TEST_ENVIRONMENT "WEIGHTFS_S3_ENV_FILE=${WEIGHTFS_S3_RGW_ENV_FILE}")

# s3_<prefix>_start/_stop/_smoke for the fixture FIXTURE: BACKEND's server with its state in DIR.
function(weightfs_s3_fixture prefix fixture backend dir)
  set(script ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/s3_fixture.sh)
  add_test(NAME s3_${prefix}_start COMMAND bash ${script} start ${dir} ${backend})
  add_test(NAME s3_${prefix}_stop COMMAND bash ${script} stop ${dir} ${backend})
  add_test(NAME s3_${prefix}_smoke COMMAND bash ${script} smoke ${dir} ${backend})
  # A start takes 10-25 s on two busy cores; the script gives up after 90 s.
  set_tests_properties(s3_${prefix}_start PROPERTIES FIXTURES_SETUP ${fixture} LABELS s3
    TIMEOUT 180 SKIP_RETURN_CODE 77)
  set_tests_properties(s3_${prefix}_stop PROPERTIES FIXTURES_CLEANUP ${fixture} LABELS s3
    TIMEOUT 60)
  set_tests_properties(s3_${prefix}_smoke PROPERTIES FIXTURES_REQUIRED ${fixture} LABELS s3
    TIMEOUT 180 SKIP_RETURN_CODE 77)
endfunction()

weightfs_s3_fixture(server s3server swift ${CMAKE_BINARY_DIR}/s3-server)
weightfs_s3_fixture(rgw s3server_rgw rgw ${CMAKE_BINARY_DIR}/s3-server-rgw)
