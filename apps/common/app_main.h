// The one place apps turn exceptions into the user-facing contract: one line on stderr,
// "<app>: error: <message>", and exit status 1 (CLI11 parse errors keep CLI11's own exit codes).
#pragma once

#include <functional>

namespace unet::apps {

int run_app(const char* app_name, const std::function<int()>& body);

}  // namespace unet::apps
