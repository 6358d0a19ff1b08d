# Which libraries a test or benchmark links: exactly the layers its source includes.
# `#include "io/nifti.h"` -> unet_io; `#include "kernels/conv2d/conv2d.h"` -> unet_kernels; and so
# on. So a kernel test builds with the kernels library alone (no niftilib, no libpng), and the
# build graph follows the include graph without a hand-kept list.
set(UNET_LAYER_LIBRARY_kernels unet_kernels)
set(UNET_LAYER_LIBRARY_engine unet_engine)
set(UNET_LAYER_LIBRARY_model unet_model)
set(UNET_LAYER_LIBRARY_io unet_io)
set(UNET_LAYER_LIBRARY_phantom unet_phantom)
set(UNET_LAYER_LIBRARY_workflow unet_workflow)

# Sets `out_var` to the libraries of the layers `source` includes (first-level folder of every
# quoted #include that names a layer).
function(unet_libraries_included source out_var)
  file(STRINGS ${source} include_lines REGEX "^#include \"[a-z_]+/")
  set(libraries)
  foreach(line IN LISTS include_lines)
    string(REGEX REPLACE "^#include \"([a-z_]+)/.*" "\\1" layer "${line}")
    if(DEFINED UNET_LAYER_LIBRARY_${layer})
      list(APPEND libraries ${UNET_LAYER_LIBRARY_${layer}})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES libraries)
  set(${out_var} ${libraries} PARENT_SCOPE)
endfunction()
