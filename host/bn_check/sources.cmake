# `taylorscope bn-check` (docs/bn-check.md): the library part (projection
# trials, teacher–student runs, report) and its CLI command; included by the
# top-level CMakeLists after both targets are defined.
target_sources(taylorscope PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/projection.cpp
  ${CMAKE_CURRENT_LIST_DIR}/teacher_student.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bn_check.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bn_check_report.cpp
)
target_sources(taylorscope_cli PRIVATE ${PROJECT_SOURCE_DIR}/host/cli/bn_check_command.cpp)
