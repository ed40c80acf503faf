# The web app `wafer serve` answers at / (web/, docs/app.md). web/dist holds
# the bundle web/build.mjs made, gzip-compressed and committed (regenerate:
# `make web`); cmake/wf_embed.c turns those files into a C table that is
# compiled into the server module, so the binary needs no file at run time.
# Defines WF_WEB_C (the generated source) for the module that serves it.
add_executable(wf_embed ${CMAKE_SOURCE_DIR}/cmake/wf_embed.c)
file(GLOB WF_WEB_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/web/dist/*.gz)
list(SORT WF_WEB_FILES)
set(WF_WEB_C ${CMAKE_BINARY_DIR}/generated/web_files.c)
add_custom_command(
  OUTPUT ${WF_WEB_C}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/generated
  COMMAND wf_embed ${WF_WEB_C} ${WF_WEB_FILES}
  DEPENDS wf_embed ${WF_WEB_FILES}
  COMMENT "Embedding the web app (web/dist, ${CMAKE_CURRENT_LIST_FILE})"
  VERBATIM)
