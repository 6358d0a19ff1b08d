// A server app (unet_serve) run by a test as a subprocess on a free port, its stdout and stderr in
// a log file: start, wait for its "listening" line, stop with a signal, watch that it stays alive
// and how much memory it holds. Shared by unet_serve_test and unet_serve_soak_test.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace unet::testing {

class ServerProcess {
 public:
  // Runs `binary --port 0 args...` and waits up to 30 s for it to print
  // "listening on http://127.0.0.1:<port>/". running() is false if it exited or never listened.
  ServerProcess(const std::string& binary, const std::vector<std::string>& args,
                const std::filesystem::path& log);
  ~ServerProcess();  // SIGKILL if still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && port_ > 0; }
  // Not exited (reaps it if it has): the "zero crashes" check.
  bool alive();
  // After alive() turned false: "killed by signal N" or "exited with N".
  std::string how_it_ended() const;
  std::string log() const;
  // Sends `sig` and waits up to 20 s, times UNET_TEST_SLOWDOWN when set (scripts/sanitize.sh sets
  // 10: a stop waits for the forward pass in flight, which runs 10-50x slower under ASan or TSan).
  // The exit code, or -1 (killed by a signal, or did not stop in time and was killed).
  int stop(int sig);
  // Resident memory in kB (VmRSS in /proc/<pid>/status); -1 when unreadable.
  int64_t rss_kb() const;

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_status_ = 0;
};

}  // namespace unet::testing
