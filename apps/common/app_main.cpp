#include "apps/common/app_main.h"

#include <exception>
#include <iostream>

namespace unet::apps {

int run_app(const char* app_name, const std::function<int()>& body) {
  try {
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
