#include "tests/testing/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/testing/app_run.h"

extern char** environ;

namespace unet::testing {

ServerProcess::ServerProcess(const std::string& binary, const std::vector<std::string>& args,
                             const std::filesystem::path& log)
    : log_(log) {
  std::vector<std::string> argv_s = {binary, "--port", "0"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const int rc = posix_spawn(&pid_, binary.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    pid_ = -1;
    return;
  }
  // The server prints its port once it listens.
  const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+)/)");
  for (int i = 0; i < 600 && port_ == 0 && alive(); ++i) {
    std::smatch m;
    const std::string text = file_contents(log_);
    if (std::regex_search(text, m, listening)) port_ = std::stoi(m[1]);
    if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop(SIGKILL);
}

bool ServerProcess::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

std::string ServerProcess::how_it_ended() const {
  if (WIFSIGNALED(exit_status_))
    return "killed by signal " + std::to_string(WTERMSIG(exit_status_));
  return "exited with " + std::to_string(WEXITSTATUS(exit_status_));
}

std::string ServerProcess::log() const { return file_contents(log_); }

int ServerProcess::stop(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  const char* slowdown = std::getenv("UNET_TEST_SLOWDOWN");
  const int polls = 400 * std::max(1, slowdown ? std::atoi(slowdown) : 1);
  for (int i = 0; i < polls; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  exit_status_ = status;
  pid_ = -1;
  return -1;
}

int64_t ServerProcess::rss_kb() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

}  // namespace unet::testing
