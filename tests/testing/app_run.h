// Running an app (unet_synth, unet_prepare, unet_predict, ...) as a subprocess from a test: its
// exit code, stdout and stderr.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "tests/testing/temp_dir.h"

namespace unet::testing {

struct AppResult {
  int code = -1;  // the exit status; -1 when the process did not exit normally
  std::string out, err;
};

// Runs `'binary' args` through the shell (args are spliced in as written: quote paths in them),
// with stdout and stderr captured in stdout.txt and stderr.txt under `scratch`, which must exist.
AppResult run_app(const std::string& binary, const std::string& args,
                  const std::filesystem::path& scratch);

// The bytes of a file; "" when it cannot be read.
std::string file_contents(const std::filesystem::path& path);

// Ends a test suite's scratch folder (in TearDownTestSuite): removed with all in it, or, when the
// environment sets UNET_KEEP_TEST_FILES, kept for a look at what the apps wrote and its path
// printed. `dir` is null afterwards either way.
void drop_scratch(std::unique_ptr<TempDir>& dir);

}  // namespace unet::testing
