// The one place apps turn exceptions into the user-facing contract: one line on stderr,
// "<app>: error: <message>", and exit status 1 (CLI11 parse errors keep CLI11's own exit codes).
// It also ignores SIGXFSZ, so a file-size limit makes writes fail with an error naming the file
// instead of killing the app silently.
#pragma once

#include <functional>

namespace unet::apps {

int run_app(const char* app_name, const std::function<int()>& body);

}  // namespace unet::apps
