# Model module tests: the logits tool, C unit tests (loading errors, decode
# ranges, truncation), and the numpy-referenced logits comparison.
set(WF_MODEL_DEPS model gguf quant kernels compute tokenizer)
foreach(m ${WF_MODEL_DEPS})
  if(NOT TARGET wf_${m})
    message(STATUS "model tests: module ${m} missing, model tests not built")
    return()
  endif()
endforeach()

add_executable(model_logits model_logits.c)
foreach(m ${WF_MODEL_DEPS} common)
  target_sources(model_logits PRIVATE $<TARGET_OBJECTS:wf_${m}>)
endforeach()
target_include_directories(model_logits PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(model_logits PRIVATE PkgConfig::PCRE2 PkgConfig::UTF8PROC Threads::Threads m)
if(WF_X86)
  target_compile_definitions(model_logits PRIVATE WF_X86=1)
endif()

wf_c_test(test_model_c SRCS test_model_c.c MODULES ${WF_MODEL_DEPS} SANITIZE LABELS model)

wf_py_test(test_model SCRIPT test_model.py LABELS model TIMEOUT 300)
set_property(TEST test_model APPEND PROPERTY ENVIRONMENT "WAFER_MODEL_LOGITS=$<TARGET_FILE:model_logits>")
