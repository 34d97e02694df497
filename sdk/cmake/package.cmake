# Install tree and CMake package: `cmake --install build --prefix P` gives
#   P/bin/medfm                     (finds libmedfm through RPATH $ORIGIN/../lib)
#   P/lib/libmedfm.so*              (looks for plugins in its own dir + medfm/plugins)
#   P/lib/medfm/plugins/*.so
#   P/include/medfm/*.h             (the public SDK headers only)
#   P/lib/cmake/medfm/              (medfmConfig.cmake: find_package(medfm 0.1))
# Included from the top-level CMakeLists.txt after every target is defined.
include(CMakePackageConfigHelpers)

set(MEDFM_INSTALL_PLUGINDIR ${CMAKE_INSTALL_LIBDIR}/medfm/plugins)
set(MEDFM_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/medfm)

# Relative RPATHs keep the install tree relocatable: the CLI finds the
# library next door, plugins find it two levels up (they are normally
# dlopen'ed by a process that already has it loaded, but `ldd` and tools
# opening a plugin on their own should resolve it too).
if(TARGET medfm_cli)
  set_target_properties(medfm_cli PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  install(TARGETS medfm_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
foreach(t ${MEDFM_PLUGIN_TARGETS})
  set_target_properties(${t} PROPERTIES INSTALL_RPATH "$ORIGIN/../..")
endforeach()

install(TARGETS medfm EXPORT medfmTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/sdk/include/medfm DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT medfmTargets NAMESPACE medfm:: DESTINATION ${MEDFM_INSTALL_CMAKEDIR})

configure_package_config_file(${CMAKE_SOURCE_DIR}/sdk/cmake/medfmConfig.cmake.in
  ${CMAKE_BINARY_DIR}/sdk/medfmConfig.cmake
  INSTALL_DESTINATION ${MEDFM_INSTALL_CMAKEDIR}
  PATH_VARS MEDFM_INSTALL_PLUGINDIR CMAKE_INSTALL_BINDIR)
# 0.x: minor versions may break the ABI, so only the same minor matches.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/sdk/medfmConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/sdk/medfmConfig.cmake ${CMAKE_BINARY_DIR}/sdk/medfmConfigVersion.cmake
  DESTINATION ${MEDFM_INSTALL_CMAKEDIR})
