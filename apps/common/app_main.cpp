#include "apps/common/app_main.h"

#include <csignal>
#include <exception>
#include <iostream>

#include "engine/kernel_config.h"

namespace unet::apps {

int run_app(const char* app_name, const std::function<int()>& body) {
  // A write past the file-size limit (ulimit -f) raises SIGXFSZ, whose default action kills the
  // process without a word. Ignored, the write fails with EFBIG instead, and the writer reports
  // the file it could not write (and removes its temp file) like any other full-disk error.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    force_variants_from_environment();  // UNET_VARIANT=op=variant,... (engine/kernel_config.h)
    return body();
  } catch (const std::exception& e) {
    std::cerr << app_name << ": error: " << e.what() << std::endl;
    return 1;
  } catch (...) {
    std::cerr << app_name << ": error: unknown exception" << std::endl;
    return 1;
  }
}

}  // namespace unet::apps
