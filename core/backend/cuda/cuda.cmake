# The CUDA backend module (libmedfm_cuda.so), loaded by core/backend/registry.c
# on first use of a cuda device. Host logic is C (core/backend/cuda/*.c),
# kernels are CUDA (*.cu) behind extern "C" launchers, so the module builds
# and links on machines without a GPU or a driver.
if(NOT DEFINED CMAKE_CUDA_HOST_COMPILER AND EXISTS /usr/bin/gcc-12)
  set(CMAKE_CUDA_HOST_COMPILER /usr/bin/gcc-12)
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  # H100/H200 machine code plus PTX that any newer GPU can JIT.
  set(CMAKE_CUDA_ARCHITECTURES "90-real;80-virtual")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

add_library(medfm_cuda MODULE ${MEDFM_CUDA_SOURCES})
set_target_properties(medfm_cuda PROPERTIES
  OUTPUT_NAME medfm_cuda
  PREFIX lib
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
  LINKER_LANGUAGE C
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  CUDA_SEPARABLE_COMPILATION OFF
  C_VISIBILITY_PRESET hidden
  CUDA_VISIBILITY_PRESET hidden)
target_include_directories(medfm_cuda PRIVATE ${CMAKE_SOURCE_DIR}/sdk/include ${CMAKE_SOURCE_DIR})
# Linked by the C driver, so the C++ runtime that nvcc's host code needs is named here.
# cuDNN ships with the toolkit here; elsewhere point CUDNN_LIBRARY at it.
find_library(CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} REQUIRED)
target_link_libraries(medfm_cuda PRIVATE medfm CUDA::cudart CUDA::cublas ${CUDNN_LIBRARY} stdc++ Threads::Threads ${M_LIB})
target_link_options(medfm_cuda PRIVATE -Wl,--no-undefined)

# The directory-wide options (-Wall -Werror, sanitizers) are gcc flags that
# nvcc does not accept: keep them for the C sources only and give the CUDA
# sources the equivalent through nvcc.
get_directory_property(_mf_dir_opts COMPILE_OPTIONS)
set(_mf_cuda_opts "")
foreach(_o IN LISTS _mf_dir_opts)
  list(APPEND _mf_cuda_opts "$<$<COMPILE_LANGUAGE:C>:${_o}>")
endforeach()
list(APPEND _mf_cuda_opts
  "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wno-unused-parameter,-Werror>"
  "$<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings>")
set_property(TARGET medfm_cuda PROPERTY COMPILE_OPTIONS ${_mf_cuda_opts})

# Installed beside libmedfm, where the registry looks for it.
set_target_properties(medfm_cuda PROPERTIES INSTALL_RPATH "$ORIGIN")
install(TARGETS medfm_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
