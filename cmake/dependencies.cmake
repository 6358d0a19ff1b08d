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
find_package(httplib CONFIG QUIET)

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
