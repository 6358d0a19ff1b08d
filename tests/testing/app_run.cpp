#include "tests/testing/app_run.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

namespace unet::testing {

AppResult run_app(const std::string& binary, const std::string& args,
                  const std::filesystem::path& scratch) {
  const std::filesystem::path out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  const std::string command =
      "'" + binary + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(command.c_str());
  AppResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = file_contents(out);
  r.err = file_contents(err);
  return r;
}

std::string file_contents(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void drop_scratch(std::unique_ptr<TempDir>& dir) {
  if (dir && std::getenv("UNET_KEEP_TEST_FILES")) {
    std::cout << "kept " << dir->path() << "\n";
    static_cast<void>(dir.release());  // never destroyed, so never removed
  }
  dir.reset();
}

}  // namespace unet::testing
