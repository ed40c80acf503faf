# GGUF reader/writer tests (module gguf; needs only the type traits of quant).

wf_c_test(test_gguf SRCS test_gguf.c MODULES gguf quant SANITIZE)
wf_c_test(test_gguf_corrupt SRCS test_gguf_corrupt.c MODULES gguf quant SANITIZE)

# gguf_dump: a test tool (prints a GGUF file as text; writes a sample file),
# used by test_gguf_py to check wafer's reader and writer against the
# independent Python implementation in tests/ref/gguf_py.py.
add_executable(gguf_dump gguf_dump.c $<TARGET_OBJECTS:wf_gguf> $<TARGET_OBJECTS:wf_quant> $<TARGET_OBJECTS:wf_common>)
target_include_directories(gguf_dump PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(gguf_dump PRIVATE m)
add_test(NAME test_gguf_py COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_py.py
         WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
set_tests_properties(test_gguf_py PROPERTIES LABELS "python;unit" SKIP_RETURN_CODE 77 TIMEOUT 120
  ENVIRONMENT "WAFER_BUILD=${CMAKE_BINARY_DIR};WAFER_SHARED=${WF_SHARED_DIR};WAFER_SRC=${CMAKE_SOURCE_DIR};GGUF_DUMP=$<TARGET_FILE:gguf_dump>;PYTHONPATH=${CMAKE_SOURCE_DIR}/tests/ref")

# libFuzzer harness: only with clang; built on demand (not part of `all`):
#   cmake --build BUILD --target fuzz_gguf && BUILD/tests/fuzz_gguf -max_total_time=60
if(CMAKE_C_COMPILER_ID MATCHES "Clang" AND WAFER_SANITIZE_TESTS)
  add_executable(fuzz_gguf EXCLUDE_FROM_ALL fuzz_gguf.c $<TARGET_OBJECTS:wf_gguf_san> $<TARGET_OBJECTS:wf_quant_san> $<TARGET_OBJECTS:wf_common_san>)
  target_include_directories(fuzz_gguf PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined -g -O1)
  target_link_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_gguf PRIVATE m)
endif()
