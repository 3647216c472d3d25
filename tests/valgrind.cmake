# Memory and descriptor checks under valgrind, for an unsanitized build only
# (AddressSanitizer and valgrind do not mix).  Included from tests/CMakeLists.txt
# after the unit tests are defined: every listed unit binary also runs as
# ctest valgrind_<name> with leak checking and descriptor tracking; any error
# or definite leak fails it.
#   cmake -S . -B build-vg -DBEEPGATE_SANITIZE=OFF && ctest --test-dir build-vg -L valgrind
find_program(VALGRIND_EXECUTABLE valgrind)

# Unit tests run under valgrind, with the environment each needs there
# (PUMP_TEST_MIB: bulk transfer size; 64 MiB each way is slow under valgrind).
set(BEEPGATE_VALGRIND_TESTS pump)
set(BEEPGATE_VALGRIND_ENV_pump "PUMP_TEST_MIB=16")
# Integration files run with beepgated under valgrind (about a minute each).
set(BEEPGATE_VALGRIND_IT forward tunnel)

if(VALGRIND_EXECUTABLE AND NOT BEEPGATE_SANITIZE)
  foreach(short ${BEEPGATE_VALGRIND_TESTS})
    if(TARGET test_${short})
      add_test(NAME valgrind_${short}
               COMMAND ${VALGRIND_EXECUTABLE} -q --leak-check=full --track-fds=yes
                       --error-exitcode=1 $<TARGET_FILE:test_${short}>)
      set_tests_properties(valgrind_${short} PROPERTIES LABELS "valgrind" TIMEOUT 900
        ENVIRONMENT "${BEEPGATE_VALGRIND_ENV_${short}};BEEPGATE_SRC=${PROJECT_SOURCE_DIR};BEEPGATE_BUILD=${PROJECT_BINARY_DIR}")
    endif()
  endforeach()
  # Integration files whose daemons run under valgrind (harness.Daemon with
  # BEEPGATE_VALGRIND=1): a definite leak, a memory error or a descriptor
  # open at exit beyond stdio fails the test.  A CI-sized subset; `make
  # stress` runs the whole integration suite this way.
  foreach(short ${BEEPGATE_VALGRIND_IT})
    set(src ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_${short}.py)
    if(EXISTS ${src})
      add_test(NAME valgrind_it_${short} COMMAND ${Python3_EXECUTABLE} -B ${src})
      set_tests_properties(valgrind_it_${short} PROPERTIES LABELS "valgrind" TIMEOUT 600
        ENVIRONMENT "BEEPGATE_VALGRIND=1;BEEPGATE_SRC=${PROJECT_SOURCE_DIR};BEEPGATE_BUILD=${PROJECT_BINARY_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}")
    endif()
  endforeach()
elseif(NOT BEEPGATE_SANITIZE)
  message(STATUS "valgrind not found: valgrind_* tests are not registered")
endif()
