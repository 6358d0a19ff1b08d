# Third-party dependencies, all from Debian packages (scripts/setup.sh installs them).
find_package(OpenMP REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PNG REQUIRED)
# Header-only libraries: their CMake configs where installed, else the bare headers (machines that
# carry them in UNET_DEPS_PREFIX, like the GPU machine).
function(unet_header_only target package header)
  find_package(${package} CONFIG QUIET)
  if(NOT TARGET ${target})
    find_path(_unet_${package}_include ${header} REQUIRED)
    add_library(${target} INTERFACE IMPORTED GLOBAL)
    target_include_directories(${target} INTERFACE ${_unet_${package}_include})
    message(STATUS "${package}: headers in ${_unet_${package}_include}")
  endif()
endfunction()
unet_header_only(CLI11::CLI11 CLI11 CLI/CLI.hpp)
unet_header_only(nlohmann_json::nlohmann_json nlohmann_json nlohmann/json.hpp)
# cpp-httplib for unet_serve. Debian's package is a compiled library with no CMake config; its
# class layouts depend on the defines it was built with (from cpp-httplib.pc), so use the same.
# Machines without it (the GPU machine) build everything but unet_serve.
find_package(httplib CONFIG QUIET)
if(NOT TARGET httplib::httplib)
  find_path(UNET_HTTPLIB_INCLUDE httplib.h)
  find_library(UNET_HTTPLIB_LIBRARY NAMES cpp-httplib)
  if(UNET_HTTPLIB_INCLUDE AND UNET_HTTPLIB_LIBRARY)
    add_library(httplib::httplib INTERFACE IMPORTED GLOBAL)
    target_include_directories(httplib::httplib INTERFACE ${UNET_HTTPLIB_INCLUDE})
    target_link_libraries(httplib::httplib INTERFACE ${UNET_HTTPLIB_LIBRARY} Threads::Threads)
    target_compile_definitions(httplib::httplib INTERFACE CPPHTTPLIB_OPENSSL_SUPPORT
                               CPPHTTPLIB_ZLIB_SUPPORT CPPHTTPLIB_BROTLI_SUPPORT)
  else()
    message(STATUS "cpp-httplib not found: unet_serve and its tests are not built")
  endif()
endif()

# OpenBLAS: the CPU fast path's sgemm. Without it, kernels/common/gemm_cpu.cpp uses its own blocked loop.
find_library(UNET_OPENBLAS_LIBRARY NAMES openblas libopenblas.so.0)
find_path(UNET_CBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas x86_64-linux-gnu/openblas-pthread)
add_library(unet_blas INTERFACE)
if(UNET_OPENBLAS_LIBRARY AND UNET_CBLAS_INCLUDE)
  target_link_libraries(unet_blas INTERFACE ${UNET_OPENBLAS_LIBRARY})
  target_include_directories(unet_blas INTERFACE ${UNET_CBLAS_INCLUDE})
  target_compile_definitions(unet_blas INTERFACE UNET_HAS_OPENBLAS=1)
  message(STATUS "OpenBLAS: ${UNET_OPENBLAS_LIBRARY}")
else()
  message(WARNING "OpenBLAS not found: the CPU fast path uses the built-in blocked GEMM")
endif()

# niftilib. Debian 12's NIFTI CMake config points at a library path that does not exist,
# so find the header and libraries directly (DESIGN.md section 6).
find_path(UNET_NIFTI_INCLUDE nifti2_io.h PATH_SUFFIXES nifti REQUIRED)
find_library(UNET_NIFTI2_LIBRARY NAMES nifti2 REQUIRED)
find_library(UNET_NIFTI1_LIBRARY NAMES niftiio REQUIRED)
find_library(UNET_ZNZ_LIBRARY NAMES znz REQUIRED)
add_library(unet_nifti INTERFACE)
target_include_directories(unet_nifti INTERFACE ${UNET_NIFTI_INCLUDE})
target_link_libraries(unet_nifti INTERFACE ${UNET_NIFTI2_LIBRARY} ${UNET_NIFTI1_LIBRARY} ${UNET_ZNZ_LIBRARY} ZLIB::ZLIB m)
