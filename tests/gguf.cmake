# GGUF reader/writer tests (module gguf).
#
# The gguf module needs only the type traits (src/quant*.c). The quant glob
# also catches src/quantize*.c (the quantize tool, which pulls in the thread
# pool and kernels), so these tests link their own copy of the traits
# sources, without the tool, to stay independent of unrelated modules.
file(GLOB WF_GGUF_TRAITS_SRCS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/quant*.c)
list(FILTER WF_GGUF_TRAITS_SRCS EXCLUDE REGEX "/quantize[^/]*\\.c$")
foreach(v "" "_san")
  if(v STREQUAL "_san" AND NOT WAFER_SANITIZE_TESTS)
    continue()
  endif()
  add_library(wf_gguftraits${v} OBJECT ${WF_GGUF_TRAITS_SRCS})
  target_include_directories(wf_gguftraits${v} PUBLIC ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  if(v STREQUAL "_san")
    target_compile_options(wf_gguftraits${v} PRIVATE ${WF_SAN_FLAGS})
  endif()
endforeach()

wf_c_test(test_gguf SRCS test_gguf.c MODULES gguf gguftraits SANITIZE)
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_corrupt.c)
  wf_c_test(test_gguf_corrupt SRCS test_gguf_corrupt.c MODULES gguf gguftraits SANITIZE)
endif()

# gguf_dump: a test tool (prints a GGUF file as text; writes a sample file).
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/gguf_dump.c)
  add_executable(gguf_dump gguf_dump.c $<TARGET_OBJECTS:wf_gguf> $<TARGET_OBJECTS:wf_gguftraits> $<TARGET_OBJECTS:wf_common>)
  target_include_directories(gguf_dump PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(gguf_dump PRIVATE m)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_py.py)
    add_test(NAME test_gguf_py COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_py.py
             WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
    set_tests_properties(test_gguf_py PROPERTIES LABELS "python;unit" SKIP_RETURN_CODE 77 TIMEOUT 120
      ENVIRONMENT "WAFER_BUILD=${CMAKE_BINARY_DIR};WAFER_SRC=${CMAKE_SOURCE_DIR};GGUF_DUMP=$<TARGET_FILE:gguf_dump>;PYTHONPATH=${CMAKE_SOURCE_DIR}/tests/ref")
  endif()
endif()

# libFuzzer harness: only with clang; built on demand (not part of `all`).
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz_gguf EXCLUDE_FROM_ALL fuzz_gguf.c $<TARGET_OBJECTS:wf_gguf_san> $<TARGET_OBJECTS:wf_gguftraits_san> $<TARGET_OBJECTS:wf_common_san>)
  target_include_directories(fuzz_gguf PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined -g -O1)
  target_link_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_gguf PRIVATE m)
endif()
