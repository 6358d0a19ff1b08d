// unet_serve: the original project's web app (upload a CT volume, get the liver segmentation) as
// one binary: a page with no external assets and a JSON API under /api, on cpp-httplib.
//   unet_serve --checkpoint FILE [--port 8080] [--host 127.0.0.1] [--device auto|cpu|cuda]
//              [--max-upload-mb 512] [--batch 8] [--threshold 0.5] [--largest-component]
//              [--keep-results 16] [--max-queue 8] [--tmp-dir DIR] [--threads 32]
//              [--read-timeout 15] [--header-timeout 10] [--min-rate 64] [--keep-alive 5]
// Stops cleanly on SIGINT/SIGTERM (temp folder removed). docs/SERVE.md describes the API and the
// connection limits, which this file implements.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "apps/common/app_main.h"
#include "apps/unet_serve/serve_app.h"
#include "engine/device.h"
#include "workflow/checkpoint.h"

namespace unet::apps::serve {

void validate_options(const Options& o) {
  if (o.checkpoint.empty()) {
    throw std::invalid_argument("--checkpoint FILE is required (a .safetensors from unet_train)");
  }
  if (o.host.empty()) throw std::invalid_argument("--host must not be empty, e.g. 127.0.0.1");
  if (o.port < 0 || o.port > 65535) {
    throw std::invalid_argument("--port " + std::to_string(o.port) +
                                " must be in 0..65535 (0: any free port)");
  }
  if (!(o.max_upload_mb > 0 && o.max_upload_mb <= 1024 * 1024)) {
    throw std::invalid_argument("--max-upload-mb " + std::to_string(o.max_upload_mb) +
                                " must be in (0, 1048576], e.g. 512");
  }
  if (o.batch < 1) {
    throw std::invalid_argument("--batch " + std::to_string(o.batch) + " must be at least 1");
  }
  if (!(o.threshold > 0.0f && o.threshold < 1.0f)) {
    throw std::invalid_argument("--threshold " + std::to_string(o.threshold) +
                                " must be in (0, 1), e.g. 0.5");
  }
  if (o.keep_results < 1) {
    throw std::invalid_argument("--keep-results " + std::to_string(o.keep_results) +
                                " must be at least 1");
  }
  if (o.max_queue < 1) {
    throw std::invalid_argument("--max-queue " + std::to_string(o.max_queue) +
                                " must be at least 1");
  }
  if (o.threads < 2 || o.threads > 1024) {
    throw std::invalid_argument("--threads " + std::to_string(o.threads) +
                                " must be in 2..1024, e.g. 32");
  }
  const auto seconds = [](const char* name, double v, double lo, const char* example) {
    if (!(v >= lo && v <= 3600)) {
      throw std::invalid_argument(std::string(name) + " " + std::to_string(v) +
                                  " must be a number of seconds in [" + std::to_string(lo) +
                                  ", 3600], e.g. " + example);
    }
  };
  seconds("--read-timeout", o.read_timeout_s, 0.1, "15");
  seconds("--header-timeout", o.header_timeout_s, 0.1, "10");
  seconds("--keep-alive", o.keep_alive_s, 0.0, "5");
  if (!(o.min_rate_kib_s >= 0 && o.min_rate_kib_s <= 1024 * 1024)) {
    throw std::invalid_argument("--min-rate " + std::to_string(o.min_rate_kib_s) +
                                " must be in [0, 1048576] KiB/s (0: no floor), e.g. 64");
  }
}

// ---- connections ----
//
// cpp-httplib's read timeout bounds each read, not a request: a client that sends a byte a second
// never trips it and holds a server thread for as long as it likes, in the headers or in the body
// (measured before this layer: still connected after 70 s). ServeServer replaces httplib's
// per-connection loop through its one hook for that, the virtual process_and_close_socket, and
// reads and writes through DeadlineStream, so that
//   - the request line and headers arrive within --header-timeout of the thread taking up the
//     connection (or of the first byte of a kept-alive connection's next request);
//   - a body arrives within --read-timeout plus its Content-Length at --min-rate, and an answer
//     leaves within the same allowance for its size;
//   - no read or write waits longer than --read-timeout for the next bytes;
//   - a request head is at most 64 KiB (httplib caps each line at 8 KiB but not their number, and
//     one client streaming headers for the whole --header-timeout took the server from 14 MB to
//     408 MB of RSS);
//   - a kept-alive connection waits at most --keep-alive for its next request.
// So a connection holds one of the --threads threads for a bounded time whatever the client does.
// A request cut off by a limit is answered 408 (routes.cpp's error handler asks
// current_read_failure() why). A connection whose request was not read to its end (a refusal that
// left the body unread, a cut-off, an unparsable head) is closed after the answer, so leftover
// bytes are never parsed as a next request.

namespace {

using Clock = std::chrono::steady_clock;
// Enough for a page's long polls on one connection; the client simply reconnects after.
constexpr int kMaxRequestsPerConnection = 100;
constexpr double kLongestAllowanceS = 1e7;  // "no limit", still far from Clock overflow
constexpr auto kPollSlice = std::chrono::milliseconds(200);  // how often a wait checks for stop
// Request line plus headers; browsers send a few KiB, nginx's default allows 32 KiB.
constexpr uint64_t kMaxHeadBytes = 64 * 1024;

Clock::duration seconds_of(double s) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::min(s, kLongestAllowanceS)));
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", s);
  return buf;
}

// One poll() of at most kPollSlice; >0 ready, 0 nothing yet, <0 an error other than EINTR.
int poll_slice(int fd, short events, Clock::duration left) {
  const auto slice = std::min<Clock::duration>(left, kPollSlice);
  const int ms = static_cast<int>(
      std::chrono::ceil<std::chrono::milliseconds>(std::max<Clock::duration>(slice, {})).count());
  pollfd p{fd, events, 0};
  const int rc = ::poll(&p, 1, ms);
  return rc < 0 && errno == EINTR ? 0 : rc;
}

class DeadlineStream final : public httplib::Stream {
 public:
  enum class Failure {
    kNone,
    kHeaderDeadline,
    kBodyDeadline,
    kSilence,
    kBodyEnded,
    kHeadTooLarge,
    kStopping
  };

  DeadlineStream(int fd, const Options& o, const std::atomic<socket_t>& listening)
      : fd_(fd),
        o_(o),
        listening_(listening),
        min_rate_(o.min_rate_kib_s * 1024),
        taken_up_(Clock::now()) {}

  Clock::time_point taken_up() const { return taken_up_; }
  bool stopping() const { return listening_ == INVALID_SOCKET; }

  // Waits for the first byte of a kept-alive connection's next request: false when `idle` passes
  // or the server stops.
  bool wait_for_request(Clock::duration idle) const {
    if (buf_pos_ < buf_len_) return true;  // pipelined
    const auto end = Clock::now() + idle;
    for (;;) {
      const int rc = poll_slice(fd_, POLLIN, end - Clock::now());
      if (rc != 0) return rc > 0;
      if (stopping() || Clock::now() >= end) return false;
    }
  }

  // A new request: its head is due header_timeout after `start`.
  void begin_request(Clock::time_point start) {
    read_deadline_ = start + seconds_of(o_.header_timeout_s);
    in_body_ = headers_seen_ = wrote_ = chunked_ = false;
    length_known_ = true;
    content_length_ = body_read_ = sent_ = head_read_ = 0;
    failure_ = Failure::kNone;
  }

  // The head is parsed (httplib's setup_request hook): the body is due read_timeout plus its
  // length at min_rate from now.
  void headers_done(const httplib::Request& req) {
    headers_seen_ = in_body_ = true;
    body_start_ = Clock::now();
    chunked_ = req.has_header("Transfer-Encoding");
    if (req.has_header("Content-Length")) {
      const std::string text = req.get_header_value("Content-Length");
      char* end = nullptr;
      errno = 0;
      const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
      length_known_ = !text.empty() && text[0] != '-' && *end == '\0' && errno == 0;
      content_length_ = length_known_ ? n : 0;
    }
    read_deadline_ = body_start_ + seconds_of(body_allowance_s(content_length_));
  }

  Failure failure() const { return failure_; }
  bool wrote() const { return wrote_; }
  // Request bytes the server did not read: the connection cannot carry another request.
  bool body_unread() const {
    return headers_seen_ && (chunked_ || !length_known_ || body_read_ < content_length_);
  }
  bool must_close() const { return failure_ != Failure::kNone || !headers_seen_ || body_unread(); }

  ReadFailure read_failure() const {
    const std::string of_body =
        std::to_string(body_read_) + " of " + std::to_string(content_length_) + " body bytes";
    switch (failure_) {
      case Failure::kNone:
        return {};
      case Failure::kHeaderDeadline:
        return {408, "the request line and headers did not arrive within " +
                         seconds_text(o_.header_timeout_s) +
                         " s (--header-timeout); send the request head at once"};
      case Failure::kBodyDeadline:
        return {408, "the request body arrived too slowly: " + of_body + " in " +
                         seconds_text(
                             std::chrono::duration<double>(Clock::now() - body_start_).count()) +
                         " s, where --read-timeout (" + seconds_text(o_.read_timeout_s) +
                         " s) plus the size at --min-rate (" + seconds_text(o_.min_rate_kib_s) +
                         " KiB/s) allows " + seconds_text(body_allowance_s(content_length_)) +
                         " s; send the file again over a faster connection"};
      case Failure::kSilence:
        return {408, "the client sent nothing for " + seconds_text(o_.read_timeout_s) +
                         " s (--read-timeout) " +
                         (in_body_ ? "after " + of_body : std::string("in the request head")) +
                         "; send the whole request without pausing"};
      case Failure::kBodyEnded:
        return {400, "the request body ended after " + of_body +
                         " (its Content-Length); send the whole file"};
      case Failure::kHeadTooLarge:
        return {431, "the request line and headers are over " +
                         std::to_string(kMaxHeadBytes / 1024) +
                         " KiB; send fewer or shorter headers"};
      case Failure::kStopping:
        return {503, "the server is stopping; send the request again once it is back"};
    }
    return {};
  }

  // The failure's answer when httplib gave none (a cut-off request line); it closes the
  // connection.
  void answer_failure() {
    const ReadFailure f = read_failure();
    if (f.status == 0 || f.status == 400) return;  // 400: the client has gone
    const std::string body = nlohmann::json{{"error", f.message}}.dump();
    const std::string text =
        "HTTP/1.1 " + std::to_string(f.status) +
        (f.status == 408   ? " Request Timeout"
         : f.status == 431 ? " Request Header Fields Too Large"
                           : " Service Unavailable") +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    for (size_t off = 0; off < text.size();) {
      const ssize_t n = write(text.data() + off, text.size() - off);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  // ---- httplib::Stream ----
  bool is_readable() const override {
    return buf_pos_ < buf_len_ || poll_slice(fd_, POLLIN, seconds_of(o_.read_timeout_s)) > 0;
  }
  bool is_writable() const override {
    return poll_slice(fd_, POLLOUT, seconds_of(o_.read_timeout_s)) > 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (buf_pos_ == buf_len_ && !fill()) return eof_ ? 0 : -1;
    const size_t n = std::min(size, buf_len_ - buf_pos_);
    if (!in_body_ && (head_read_ += n) > kMaxHeadBytes) {
      failure_ = Failure::kHeadTooLarge;
      return -1;
    }
    std::memcpy(ptr, buf_.data() + buf_pos_, n);
    buf_pos_ += n;
    if (in_body_) body_read_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!wrote_) {
      wrote_ = true;
      write_start_ = Clock::now();
    }
    // Everything sent so far plus this piece, at min_rate, after read_timeout.
    const auto deadline = write_start_ + seconds_of(body_allowance_s(sent_ + size));
    for (;;) {
      if (wait(POLLOUT, deadline) != Failure::kNone) return -1;
      const ssize_t n = ::send(fd_, ptr, size, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) {
        sent_ += static_cast<uint64_t>(n);
        return n;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address(true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address(false, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  double body_allowance_s(uint64_t bytes) const {
    return o_.read_timeout_s +
           (min_rate_ > 0 ? static_cast<double>(bytes) / min_rate_ : kLongestAllowanceS);
  }

  // Waits until fd is ready for `events`: kNone, or why not (the deadline, read_timeout_s of
  // silence, the server stopping).
  Failure wait(short events, Clock::time_point deadline) const {
    const auto silence_end = Clock::now() + seconds_of(o_.read_timeout_s);
    for (;;) {
      const auto now = Clock::now();
      const auto end = std::min(deadline, silence_end);
      const int rc = poll_slice(fd_, events, end - now);
      if (rc > 0) return Failure::kNone;
      if (rc < 0) return Failure::kBodyEnded;  // a broken socket: the client has gone
      if (stopping()) return Failure::kStopping;
      if (Clock::now() >= deadline) {
        return in_body_ ? Failure::kBodyDeadline : Failure::kHeaderDeadline;
      }
      if (Clock::now() >= silence_end) return Failure::kSilence;
    }
  }

  bool fill() {
    for (;;) {
      const Failure why = wait(POLLIN, read_deadline_);
      if (why != Failure::kNone) {
        failure_ = why;
        return false;
      }
      const ssize_t n = ::recv(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT);
      if (n > 0) {
        buf_pos_ = 0;
        buf_len_ = static_cast<size_t>(n);
        return true;
      }
      if (n == 0) {
        eof_ = true;
        if (in_body_ && body_unread()) failure_ = Failure::kBodyEnded;
        return false;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    }
  }

  void address(bool peer, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    auto* sa = reinterpret_cast<sockaddr*>(&a);
    if ((peer ? ::getpeername(fd_, sa, &len) : ::getsockname(fd_, sa, &len)) != 0) return;
    char host[INET6_ADDRSTRLEN] = "";
    if (a.ss_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
      ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
      port = ntohs(v4->sin_port);
    } else if (a.ss_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
      ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
      port = ntohs(v6->sin6_port);
    }
    ip = host;
  }

  const int fd_;
  const Options& o_;
  const std::atomic<socket_t>& listening_;
  const double min_rate_;  // bytes per second
  const Clock::time_point taken_up_;
  std::array<char, 16 * 1024> buf_{};  // on the pool thread's stack; bodies come in pieces
  size_t buf_pos_ = 0, buf_len_ = 0;
  bool eof_ = false;
  // The request in progress.
  Clock::time_point read_deadline_, body_start_, write_start_;
  bool in_body_ = false, headers_seen_ = false, wrote_ = false, chunked_ = false;
  bool length_known_ = true;
  uint64_t content_length_ = 0, body_read_ = 0, sent_ = 0, head_read_ = 0;
  Failure failure_ = Failure::kNone;
};

// The request being served on this thread, for current_read_failure() and the post-routing hook.
thread_local const DeadlineStream* t_request = nullptr;

// Reads away what the client still sends, for at most `linger`, then closes. Unread request bytes
// at close() make the kernel send a reset, which can destroy the answer before the client has
// read it (the 413 of a too-large upload that is still being sent).
void close_after_draining(int fd, Clock::duration linger, const DeadlineStream& strm) {
  ::shutdown(fd, SHUT_WR);  // the answer is complete
  const auto end = Clock::now() + linger;
  char scratch[16 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n == 0) break;  // the client closed too
    if (n > 0 || errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) break;
    const auto now = Clock::now();
    if (now >= end || strm.stopping() || poll_slice(fd, POLLIN, end - now) < 0) break;
  }
  ::close(fd);
}

// Inside a class derived from httplib::Server, "Options" names its OPTIONS-route method.
using ServeOptions = Options;

class ServeServer final : public httplib::Server {
 public:
  explicit ServeServer(const ServeOptions& o) : o_(o) {
    new_task_queue = [this] { return new httplib::ThreadPool(static_cast<size_t>(o_.threads)); };
    // httplib puts these in its Keep-Alive header and socket options; the limits themselves are
    // DeadlineStream's.
    set_keep_alive_max_count(kMaxRequestsPerConnection);
    set_keep_alive_timeout(static_cast<time_t>(std::ceil(o_.keep_alive_s)));
    set_read_timeout(seconds_of(o_.read_timeout_s));
    set_write_timeout(seconds_of(o_.read_timeout_s));
    // A connection that cannot carry another request says so in its answer.
    set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
      if (t_request == nullptr || !t_request->must_close()) return;
      res.headers.erase("Keep-Alive");
      res.headers.erase("Connection");
      res.set_header("Connection", "close");
    });
  }
  // httplib listens with a backlog of 5; a burst of clients beyond that would have their
  // connections dropped by the kernel and retried a second later. Listening again only resizes the
  // queue.
  void widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }

 private:
  bool process_and_close_socket(socket_t sock) override {
    DeadlineStream strm(sock, o_, svr_sock_);
    t_request = &strm;
    bool ok = false, linger = false;
    try {
      const int max_requests = o_.keep_alive_s > 0 ? kMaxRequestsPerConnection : 1;
      for (int served = 0; served < max_requests; ++served) {
        Clock::time_point start = strm.taken_up();
        if (served > 0) {
          if (!strm.wait_for_request(seconds_of(o_.keep_alive_s))) break;
          start = Clock::now();
        }
        strm.begin_request(start);
        bool client_closes = false;
        const bool last = served + 1 == max_requests || strm.stopping();
        ok = process_request(strm, last, client_closes,
                             [&strm](httplib::Request& req) { strm.headers_done(req); });
        if (!ok && !strm.wrote()) strm.answer_failure();
        if (!ok || client_closes || strm.must_close()) {
          // Only a refusal of what the client is still sending is worth waiting for (an unread
          // body, a head over the limit); a client cut off by a time limit gets no more time.
          const DeadlineStream::Failure why = strm.failure();
          linger = (ok && why == DeadlineStream::Failure::kNone && strm.body_unread()) ||
                   why == DeadlineStream::Failure::kHeadTooLarge;
          break;
        }
      }
    } catch (...) {
      ok = false;  // never let one connection take the pool thread down; its socket still closes
    }
    t_request = nullptr;
    close_after_draining(sock, linger ? seconds_of(o_.read_timeout_s) : Clock::duration{}, strm);
    return ok;
  }

  const ServeOptions& o_;
};

}  // namespace

ReadFailure current_read_failure() { return t_request ? t_request->read_failure() : ReadFailure{}; }

}  // namespace unet::apps::serve

namespace serve = unet::apps::serve;

namespace {

int g_stop_fd = -1;  // write end of the stop pipe, for the signal handler

extern "C" void on_stop_signal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  const int saved = errno;
  if (g_stop_fd >= 0) (void)!::write(g_stop_fd, &byte, 1);
  errno = saved;
}

sigset_t stop_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// SIGINT/SIGTERM as ordinary reads, for the stopper thread.
//
// block_in_this_thread() runs in main before any thread starts, so every thread the server starts
// (the OpenMP pool, httplib's, the job worker) inherits the block: a stop signal then stays
// pending for the process, and wait() takes it from a signalfd, with no handler involved. Only
// threads that OpenBLAS starts before main lack the block; a signal they take runs the handler,
// which writes the signal number to a pipe that wait() also reads.
//
// Why not just the handler: under ThreadSanitizer (LLVM 14) a handler is deferred until its
// thread leaves an intercepted call, and threads blocked in read() or accept() never do, so the
// server never stopped in the sanitizer runs. A pending signal read from a signalfd needs nothing
// of the kind.
class StopSignals {
 public:
  StopSignals() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("cannot create a pipe (") + std::strerror(errno) + ")");
    }
    const sigset_t set = stop_signal_set();
    // Non-blocking: poll() can report a signal that a thread without the block (OpenBLAS's) then
    // takes through the handler before read() gets to it; a blocking read would then wait forever
    // while the handler's byte sits in the pipe (seen once in 60 starts).
    signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) {
      const int err = errno;
      ::close(fds_[0]);
      ::close(fds_[1]);
      throw std::runtime_error(std::string("cannot create a signalfd (") + std::strerror(err) +
                               ")");
    }
    g_stop_fd = fds_[1];
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  }
  ~StopSignals() {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    g_stop_fd = -1;
    ::close(signal_fd_);
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Blocks SIGINT/SIGTERM in the calling thread; threads started later inherit the block.
  static void block_in_this_thread() {
    const sigset_t set = stop_signal_set();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
  // Blocks until a stop signal (its number) or notify(0).
  int wait() {
    for (;;) {
      pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {fds_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return 0;  // cannot wait any longer: stop
      }
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo info{};
        if (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
          return static_cast<int>(info.ssi_signo);
        }
      }
      if (fds[1].revents & POLLIN) {
        unsigned char byte = 0;
        if (::read(fds_[0], &byte, 1) == 1) return byte;
      }
      // Neither read got anything (the signal went to the handler): poll again, for its byte.
    }
  }
  void notify(int value) { on_stop_signal(value); }

 private:
  int fds_[2] = {-1, -1};
  int signal_fd_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Serve a web page and JSON API that segment the liver in uploaded CT volumes"};
  serve::Options o;
  app.add_option("--checkpoint", o.checkpoint, "checkpoint written by unet_train (.safetensors)");
  app.add_option("--host", o.host, "address to listen on (0.0.0.0: every interface)")
      ->capture_default_str();
  app.add_option("--port", o.port, "TCP port (0: any free port)")->capture_default_str();
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--max-upload-mb", o.max_upload_mb, "larger uploads are answered 413")
      ->capture_default_str();
  app.add_option("--batch", o.batch, "slices per forward pass")->capture_default_str();
  app.add_option("--threshold", o.threshold, "liver where probability > threshold")
      ->capture_default_str();
  app.add_flag("--largest-component", o.largest_component,
               "keep only the largest 3-D connected component of each mask");
  app.add_option("--keep-results", o.keep_results, "finished results kept in memory")
      ->capture_default_str();
  app.add_option("--max-queue", o.max_queue, "volumes waiting at most (more: 503)")
      ->capture_default_str();
  app.add_option("--tmp-dir", o.tmp_dir, "where the private temp folder goes [default: $TMPDIR]");
  app.add_option("--threads", o.threads, "HTTP threads; each open connection holds one")
      ->capture_default_str();
  app.add_option("--read-timeout", o.read_timeout_s,
                 "seconds of silence after which a request or answer in transit is cut off")
      ->capture_default_str();
  app.add_option("--header-timeout", o.header_timeout_s,
                 "seconds a connection has to send its request line and headers")
      ->capture_default_str();
  app.add_option("--min-rate", o.min_rate_kib_s,
                 "KiB/s a body must average, after --read-timeout (0: no floor)")
      ->capture_default_str();
  app.add_option("--keep-alive", o.keep_alive_s,
                 "seconds an idle connection waits for its next request (0: one request each)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return unet::apps::run_app("unet_serve", [&]() {
    serve::validate_options(o);
    signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server
    // Before any thread starts (StopSignals explains why).
    StopSignals::block_in_this_thread();

    const unet::Device device = unet::parse_device(o.device);
    if (device.is_cuda()) unet::use_cuda_device(device, "unet_serve --device " + o.device);
    const unet::workflow::CheckpointContents ckpt = unet::workflow::read_checkpoint(o.checkpoint);
    const unet::workflow::Preprocess preprocess = ckpt.preprocess();
    unet::model::UNet net = unet::workflow::load_inference_model(ckpt, device);
    const std::string describe = ckpt.config.describe();

    StopSignals stop_signals;  // before the temp folder exists, so a signal always removes it
    serve::TempDir tmp(o.tmp_dir);
    serve::JobQueue queue(std::move(net), ckpt.config, preprocess, o, tmp);
    // Long polls hold a thread each, so the pool (--threads) is larger than httplib's default.
    serve::ServeServer server(o);
    server.set_payload_max_length(static_cast<size_t>(o.max_upload_mb * 1024 * 1024));
    serve::add_routes(server, queue, o, tmp);
    server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::cout << "unet_serve: " << req.method << " " << req.path << " " << res.status
                << std::endl;
    });

    int port = o.port;
    if (port == 0) {
      port = server.bind_to_any_port(o.host);
    } else if (!server.bind_to_port(o.host, port)) {
      port = -1;
    }
    if (port < 0) {
      throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                               " (address in use or not allowed); pass another --port or --host");
    }
    server.widen_backlog();
    std::cout << "unet_serve: " << o.checkpoint << " (" << describe << ", "
              << preprocess.slice.height << "x" << preprocess.slice.width << ") on "
              << queue.device() << ", upload limit " << o.max_upload_mb << " MB, " << o.threads
              << " HTTP threads\n"
              << "unet_serve: listening on http://" << o.host << ":" << port << "/" << std::endl;

    // SIGINT/SIGTERM: the stopper thread takes them (StopSignals) and stops the server from
    // ordinary code.
    std::atomic<bool> listen_ended{false};
    std::thread stopper([&] {
      const int sig = stop_signals.wait();
      if (sig > 0) std::cout << "unet_serve: signal " << sig << ", stopping" << std::endl;
      queue.shutdown();  // wakes long polls so the server's threads can finish
      // httplib's stop() does nothing until listen_after_bind() is running, and a signal can come
      // between the "listening" line and that call (a SIGTERM right after start was lost under CPU
      // load and the server never stopped): wait for it to run first.
      while (!server.is_running() && !listen_ended) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      server.stop();
    });
    const bool ok = server.listen_after_bind();
    listen_ended = true;
    stop_signals.notify(0);  // listen ended by itself: release the stopper thread
    stopper.join();
    std::cout << "unet_serve: stopped" << std::endl;
    return ok ? 0 : 1;
  });
}
