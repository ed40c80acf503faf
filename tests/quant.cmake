# quant module tests: reference conversions and scalar kernels.
# The sources are listed directly rather than through the wf_quant/wf_kernels
# object libraries: the src/quant*.c glob also picks up src/quantize*.c (the
# tools module, which needs gguf + threadpool), and the kernels library holds
# the SIMD files of another module; these tests need neither.
set(WF_QUANT_SRCS ../src/quant.c ../src/quant_float.c ../src/quant_legacy.c ../src/quant_k.c)

add_executable(quant_tool quant_tool.c ${WF_QUANT_SRCS} $<TARGET_OBJECTS:wf_common>)
target_include_directories(quant_tool PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(quant_tool PRIVATE m)

wf_c_test(test_quant SRCS test_quant.c ${WF_QUANT_SRCS} ../src/kernels_scalar.c MODULES common SANITIZE)

wf_py_test(test_quant_np SCRIPT test_quant_np.py ARGS $<TARGET_FILE:quant_tool> TIMEOUT 120)
