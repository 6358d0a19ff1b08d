// unet_serve under abuse, over loopback against one server process with short time limits:
//  - AbuseIsAnsweredWithTheRightStatus: one request of each abusive kind, with its status and the
//    message that names the limit (fast, a few seconds);
//  - SurvivesMixedAbuse: a bounded soak of well over 1,000 mixed requests (valid volumes raw and
//    multipart, corrupt, truncated and bit-flipped files, oversize bodies, bodies that stop
//    halfway, clients that send a byte a second, silent connections, bursts of concurrent
//    clients, kept-alive connections, unknown routes and methods). Every request kind has the
//    statuses it may get; the process must stay alive and answering, its resident memory must grow
//    less than 10 % after a warm-up, its temp folder must end empty, and slow clients must be cut
//    off within their limit. The figures (requests by kind, RSS, slowest answers) are printed for
//    docs/SERVE.md.
// Every request is a raw socket exchange, so the test controls exactly what is sent and when.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io/nifti.h"
#include "model/unet.h"
#include "phantom/phantom.h"
#include "tests/testing/app_run.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "workflow/checkpoint.h"
#include "workflow/predictor.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace unet;
using Clock = std::chrono::steady_clock;
using unet::testing::file_contents;

namespace {

const std::string kBinary = UNET_BINARY_DIR "/unet_serve";
constexpr int kInt16 = 4;                   // NIFTI_TYPE_INT16
constexpr int kNet = 32;                    // network slices 32x32; uploads 64x64 (stride 2)
constexpr size_t kMaxUpload = 1024 * 1024;  // --max-upload-mb 1
// Short limits, so that slow clients are cut off within the test's time.
constexpr double kReadTimeout = 2.5, kHeaderTimeout = 3;
constexpr int kThreads = 24;
constexpr int kKeepResults = 32;
// How late a cut-off may come beyond its limit on a loaded 2-core machine (scheduling, a queued
// connection's wait for a thread).
constexpr double kCutOffSlack = 3;
constexpr double kClientTimeoutS = 30;  // no exchange may take longer: a hang fails the test
const std::string kCrlf = "\r\n";

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- the server process ----

// The server as a subprocess (tests/testing/server_process.h), started from this build's binary.
class ServerProcess : public unet::testing::ServerProcess {
 public:
  ServerProcess(const std::vector<std::string>& args, const fs::path& log)
      : unet::testing::ServerProcess(kBinary, args, log) {}
};

// ---- raw HTTP over loopback ----

struct Reply {
  int status = 0;  // 0: no HTTP answer (closed or reset before a status line)
  std::string head, body;
  double seconds = 0;  // from the first byte sent to the end of the answer
};

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // Every receive is bounded, so a server that hangs fails the test instead of stalling it.
  timeval tv{static_cast<time_t>(kClientTimeoutS), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  for (size_t off = 0; off < bytes.size();) {
    const ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Closes with a reset (SO_LINGER 0) rather than a FIN: a client that vanishes.
void reset_close(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

Reply parse_reply(const std::string& raw, Clock::time_point t0) {
  Reply r;
  r.seconds = seconds_since(t0);
  std::smatch m;
  static const std::regex status_line("^HTTP/1\\.1 (\\d{3}) ");
  if (!std::regex_search(raw, m, status_line)) return r;
  r.status = std::stoi(m[1]);
  const size_t at = raw.find("\r\n\r\n");
  r.head = raw.substr(0, at);
  if (at != std::string::npos) r.body = raw.substr(at + 4);
  return r;
}

// Everything the server sends until it closes.
std::string recv_until_close(int fd) {
  std::string raw;
  char buf[16384];
  for (ssize_t got; (got = recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, got);
  return raw;
}

// One answer on a kept-alive connection: the head, then Content-Length bytes of body.
std::string recv_one(int fd, std::string* pending) {
  char buf[16384];
  size_t head_end;
  while ((head_end = pending->find("\r\n\r\n")) == std::string::npos) {
    const ssize_t got = recv(fd, buf, sizeof buf, 0);
    if (got <= 0) return std::exchange(*pending, "");
    pending->append(buf, got);
  }
  std::smatch m;
  const std::string head = pending->substr(0, head_end);
  static const std::regex length("\r\nContent-Length: (\\d+)", std::regex::icase);
  const size_t total =
      head_end + 4 + (std::regex_search(head, m, length) ? std::stoull(m[1]) : size_t{0});
  while (pending->size() < total) {
    const ssize_t got = recv(fd, buf, sizeof buf, 0);
    if (got <= 0) break;
    pending->append(buf, got);
  }
  std::string one = pending->substr(0, std::min(total, pending->size()));
  pending->erase(0, one.size());
  return one;
}

// The whole request in one send, then everything until the server closes (requests say
// Connection: close).
Reply http_exchange(int port, const std::string& request) {
  const auto t0 = Clock::now();
  const int fd = connect_to(port);
  if (fd < 0) return parse_reply("", t0);
  std::string raw;
  if (send_all(fd, request)) raw = recv_until_close(fd);
  close(fd);
  return parse_reply(raw, t0);
}

std::string request(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& headers = "") {
  const bool with_length = method == "POST" || !body.empty();
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers +
         (with_length ? "Content-Length: " + std::to_string(body.size()) + kCrlf : "") + kCrlf +
         body;
}

// A GET whose head (many header lines of 1000 bytes) is about `bytes` long.
std::string header_flood(size_t bytes) {
  const std::string line = "X-Flood: " + std::string(1000 - 11, 'f') + kCrlf;
  std::string head = "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  while (head.size() < bytes) head += line;
  return head + kCrlf;
}

std::string multipart(const std::string& bytes, const std::string& name, std::string* headers) {
  const std::string boundary = "unetSoakBoundary7MA4YWxk";
  *headers = "Content-Type: multipart/form-data; boundary=" + boundary + kCrlf;
  return "--" + boundary + kCrlf + "Content-Disposition: form-data; name=\"file\"; filename=\"" +
         name + "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + bytes + kCrlf + "--" +
         boundary + "--\r\n";
}

bool is_json_error(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  return j.is_object() && j.contains("error") && j["error"].is_string() &&
         !j["error"].get<std::string>().empty();
}

std::string gzip_bytes(const std::string& raw) {
  std::string out(compressBound(static_cast<uLong>(raw.size())) + 64, '\0');
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);  // 16: gzip wrapper
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// ---- request kinds and what each may be answered ----

enum Kind {
  kHealth,
  kPage,
  kHead,
  kKeptAlive,
  kUnknownRoute,
  kWrongMethod,
  kBadMethod,
  kGarbage,
  kLongTarget,
  kHeaderFlood,
  kChunked,
  kNoLength,
  kBadLength,
  kUnknownJob,
  kBadWait,
  kUpload,
  kPoll,
  kMask,
  kSlice,
  kCorrupt,
  kTruncated,
  kFlipped,
  kOversize,
  kOversizeClaim,
  kStopAndClose,
  kStopAndWait,
  kStopAndReset,
  kConnectAndReset,
  kSilent,
  kSlowHead,
  kSlowBody,
  kKinds
};

struct KindInfo {
  const char* name;
  std::set<int> statuses;  // 0: no answer is possible (the client reset the connection)
  bool deliberately_slow;  // waits on a limit or a long poll: not an "answer time"
};

const std::array<KindInfo, kKinds>& kinds() {
  static const std::array<KindInfo, kKinds> table = {{
      {"health", {200}, false},
      {"page", {200}, false},
      {"HEAD page", {200}, false},
      {"kept-alive (per request)", {200, 404}, false},
      {"unknown route", {404}, false},
      {"known route, wrong method", {405}, false},
      {"unknown method", {400}, false},
      {"garbage bytes", {400}, false},
      {"target over 8 KiB", {414}, false},
      {"head over 64 KiB", {431}, false},
      {"chunked upload", {411}, false},
      {"upload without length", {411}, false},
      {"bad Content-Length", {400}, false},
      {"unknown job", {404}, false},
      {"bad wait parameter", {400}, false},
      {"valid upload", {202}, false},
      {"job long poll", {200}, true},
      {"mask download", {200}, false},
      {"slice PNG", {200}, false},
      {"corrupt file", {400}, false},
      {"truncated NIfTI", {400}, false},
      {"bit-flipped header", {202, 400}, false},
      {"oversize body", {413}, false},
      {"oversize claim", {413}, false},
      {"body stops, client half-closes", {400}, false},
      {"body stops, client waits", {408}, true},
      {"body stops, client resets", {0}, false},
      {"connect and reset", {0}, false},
      {"silent connection", {408}, true},
      {"slow head (1 byte/s)", {408}, true},
      {"slow body (1 byte/s)", {408}, true},
  }};
  return table;
}

struct Tally {
  int64_t count = 0;
  std::map<int, int64_t> statuses;
  double slowest = 0;
};

// What every exchange got, by kind; thread-safe.
class Soak {
 public:
  explicit Soak(int port) : port_(port) {}
  int port() const { return port_; }

  // Counts a reply and checks its status (and that an error carries a JSON message).
  void record(Kind k, const Reply& r, const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    Tally& t = tallies_[k];
    ++t.count;
    ++t.statuses[r.status];
    t.slowest = std::max(t.slowest, r.seconds);
    if (!kinds()[k].statuses.count(r.status)) {
      problem_locked(std::string(kinds()[k].name) + " (" + what + "): got status " +
                     std::to_string(r.status) + " " + r.body.substr(0, 300));
    } else if (r.status >= 400 && !is_json_error(r.body)) {
      problem_locked(std::string(kinds()[k].name) + " (" + what + "): " + std::to_string(r.status) +
                     " without a JSON error: " + r.body.substr(0, 300));
    }
  }
  void problem(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    problem_locked(text);
  }
  std::array<Tally, kKinds> tallies() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tallies_;
  }
  std::vector<std::string> problems() const {
    std::lock_guard<std::mutex> lock(mu_);
    return problems_;
  }
  int64_t problem_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return problem_count_;
  }

 private:
  void problem_locked(const std::string& text) {
    ++problem_count_;
    if (problems_.size() < 30) problems_.push_back(text);
  }
  const int port_;
  mutable std::mutex mu_;
  std::array<Tally, kKinds> tallies_{};
  std::vector<std::string> problems_;
  int64_t problem_count_ = 0;
};

// The volumes the soak uploads: small phantoms, as .nii.gz and .nii.
struct Volumes {
  std::vector<std::string> gz, raw;
};

// ---- one client action per kind ----

// Polls a job until it is done or failed; its final JSON (empty when a poll was not 200).
json poll_until_final(Soak& s, const std::string& id) {
  for (int i = 0; i < 20; ++i) {
    const Reply p = http_exchange(s.port(), request("GET", "/api/jobs/" + id + "?wait=5"));
    s.record(kPoll, p, "job " + id);
    if (p.status != 200) return json();
    const json j = json::parse(p.body, nullptr, false);
    if (j.is_object() && (j["status"] == "done" || j["status"] == "failed")) return j;
  }
  s.problem("job " + id + " did not finish within 20 long polls");
  return json();
}

// Upload, poll to the end, then (for a valid volume) the mask and a slice.
void upload_flow(Soak& s, Kind kind, const std::string& bytes, bool as_multipart,
                 const std::string& what) {
  std::string headers;
  const std::string body = as_multipart ? multipart(bytes, "soak.nii.gz", &headers) : bytes;
  const Reply r =
      http_exchange(s.port(), request("POST", "/api/jobs?name=soak.nii.gz", body, headers));
  s.record(kind, r, what);
  if (r.status != 202) return;
  const json sub = json::parse(r.body, nullptr, false);
  if (!sub.is_object() || !sub.contains("id")) {
    s.problem(what + ": 202 without a job id: " + r.body.substr(0, 200));
    return;
  }
  const std::string id = sub["id"];
  const json j = poll_until_final(s, id);
  if (kind != kUpload) return;  // a bit-flipped header may fail in the worker: also an answer
  if (!j.is_object() || j["status"] != "done") {
    s.problem(what + ": a valid volume did not segment: " + j.dump().substr(0, 300));
    return;
  }
  const Reply m = http_exchange(s.port(), request("GET", "/api/jobs/" + id + "/mask.nii.gz"));
  s.record(kMask, m, what);
  if (m.status == 200 && m.body.compare(0, 2, "\x1f\x8b") != 0) {
    s.problem(what + ": the mask download is not gzip");
  }
  const int64_t k = j["result"]["nz"].get<int64_t>() / 2;
  const Reply p = http_exchange(s.port(), request("GET", "/api/jobs/" + id + "/slices/" +
                                                             std::to_string(k) + ".png?overlay=1"));
  s.record(kSlice, p, what);
  if (p.status == 200 && p.body.compare(0, 4, "\x89PNG") != 0) {
    s.problem(what + ": the slice is not a PNG");
  }
}

// Sends `head` (and then `body`) a byte at a time, one a second, until the server answers or
// closes; the time from the first byte to the answer must stay within `limit` + slack.
void slow_client(Soak& s, Kind kind, const std::string& head, const std::string& body, double limit,
                 const char* limit_name) {
  const int fd = connect_to(s.port());
  if (fd < 0) {
    s.problem(std::string(kinds()[kind].name) + ": cannot connect");
    return;
  }
  const auto t0 = Clock::now();
  std::string bytes = head;
  size_t next = 0;
  if (kind == kSlowBody) {
    send_all(fd, head);  // the head at once, the body a byte a second
    bytes = body;
  }
  while (next < bytes.size() && seconds_since(t0) < kClientTimeoutS) {
    if (send(fd, bytes.data() + next, 1, MSG_NOSIGNAL) != 1) break;  // cut off while sending
    ++next;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) > 0) break;  // the server answered or closed
  }
  const Reply r = parse_reply(recv_until_close(fd), t0);
  close(fd);
  s.record(kind, r, std::to_string(next) + " bytes sent");
  if (r.status == 408 && r.body.find(limit_name) == std::string::npos &&
      r.body.find("--read-timeout") == std::string::npos) {
    s.problem(std::string(kinds()[kind].name) + ": the 408 names no limit: " + r.body);
  }
  if (r.seconds > limit + kCutOffSlack) {
    s.problem(std::string(kinds()[kind].name) + ": cut off after " + std::to_string(r.seconds) +
              " s, beyond its " + std::to_string(limit) + " s limit + " +
              std::to_string(kCutOffSlack) + " s");
  }
}

// A body that stops halfway: the client then half-closes (400), waits (408) or resets (no answer).
void stop_halfway(Soak& s, Kind kind, const std::string& bytes) {
  const auto t0 = Clock::now();
  const int fd = connect_to(s.port());
  if (fd < 0) {
    s.problem(std::string(kinds()[kind].name) + ": cannot connect");
    return;
  }
  const std::string head = "POST /api/jobs?name=half.nii.gz HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                           std::string("Content-Length: ") + std::to_string(bytes.size()) +
                           "\r\n\r\n";
  send_all(fd, head + bytes.substr(0, bytes.size() / 2));
  if (kind == kStopAndReset) {
    reset_close(fd);
    s.record(kind, Reply{}, "reset");
    return;
  }
  if (kind == kStopAndClose) shutdown(fd, SHUT_WR);
  const Reply r = parse_reply(recv_until_close(fd), t0);
  close(fd);
  s.record(kind, r, std::to_string(bytes.size() / 2) + " of " + std::to_string(bytes.size()));
  if (kind == kStopAndWait && r.seconds > kReadTimeout + kCutOffSlack) {
    s.problem("a stalled body was cut off after " + std::to_string(r.seconds) + " s");
  }
}

// One kept-alive connection carrying three requests in turn.
void kept_alive(Soak& s) {
  const int fd = connect_to(s.port());
  if (fd < 0) {
    s.problem("kept-alive: cannot connect");
    return;
  }
  std::string pending;
  const char* targets[] = {"/api/health", "/", "/api/nothing"};
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    const std::string last = i == 2 ? "Connection: close\r\n" : "";
    if (!send_all(fd, "GET " + std::string(targets[i]) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + last +
                          kCrlf)) {
      s.record(kKeptAlive, Reply{}, "send failed on request " + std::to_string(i));
      break;
    }
    const Reply r = parse_reply(recv_one(fd, &pending), t0);
    s.record(kKeptAlive, r, targets[i]);
    if (r.status != (i == 2 ? 404 : 200)) s.problem("kept-alive: " + std::string(targets[i]));
  }
  close(fd);
}

std::string random_bytes(std::mt19937& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

void run_kind(Soak& s, Kind kind, uint32_t seed, const Volumes& v) {
  std::mt19937 rng(seed);
  const int port = s.port();
  const std::string& gz = v.gz[rng() % v.gz.size()];
  const std::string& raw = v.raw[rng() % v.raw.size()];
  const std::string job = "/api/jobs/" + std::string(32, 'a' + static_cast<char>(rng() % 6));
  switch (kind) {
    case kHealth:
      s.record(kind, http_exchange(port, request("GET", "/api/health")), "");
      break;
    case kPage:
      s.record(kind, http_exchange(port, request("GET", "/")), "");
      break;
    case kHead:
      s.record(kind, http_exchange(port, request("HEAD", "/")), "");
      break;
    case kKeptAlive:
      kept_alive(s);
      break;
    case kUnknownRoute: {
      const char* targets[] = {"/nope", "/api", "/api/jobs/../../etc/passwd", "/api/jobs/xyz"};
      const std::string t = rng() % 2 ? targets[rng() % 4] : "/api/r" + std::to_string(rng());
      s.record(kind, http_exchange(port, request("GET", t)), t);
      break;
    }
    case kWrongMethod: {
      const char* methods[] = {"PUT", "DELETE", "PATCH", "OPTIONS", "POST"};
      const std::string m = methods[rng() % 5];
      const std::string t = m == "POST" ? "/api/health" : rng() % 2 ? "/api/jobs" : "/";
      s.record(kind, http_exchange(port, request(m, t, m == "OPTIONS" ? "" : "x")), m + " " + t);
      break;
    }
    case kBadMethod:
      s.record(kind, http_exchange(port, request("BREW", "/pot")), "BREW");
      break;
    case kGarbage: {
      std::string bytes = random_bytes(rng, 1 + rng() % 3000);
      std::replace(bytes.begin(), bytes.end(), '\n', ' ');  // one malformed line
      s.record(kind, http_exchange(port, bytes + "\r\n\r\n"),
               std::to_string(bytes.size()) + " bytes");
      break;
    }
    case kLongTarget:
      s.record(kind, http_exchange(port, request("GET", "/" + std::string(9000, 'a'))), "");
      break;
    case kHeaderFlood:
      s.record(kind, http_exchange(port, header_flood(64 * 1024 + rng() % (256 * 1024))), "");
      break;
    case kChunked:
      s.record(kind,
               http_exchange(port,
                             "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: "
                             "chunked\r\nConnection: close\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"),
               "");
      break;
    case kNoLength:
      s.record(kind,
               http_exchange(port,
                             "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close"
                             "\r\n\r\n"),
               "");
      break;
    case kBadLength:
      s.record(kind,
               http_exchange(port,
                             "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                             "12abc\r\nConnection: close\r\n\r\nabc"),
               "");
      break;
    case kUnknownJob:
      s.record(kind, http_exchange(port, request("GET", job + (rng() % 2 ? "" : "/mask.nii.gz"))),
               "");
      break;
    case kBadWait:
      s.record(kind,
               http_exchange(port, request("GET", job + "?wait=" + std::to_string(31 + rng() % 9))),
               "");
      break;
    case kUpload: {
      const bool as_raw = rng() % 3 == 0, as_multipart = rng() % 4 == 0;
      upload_flow(s, kind, as_raw ? raw : gz, as_multipart,
                  std::string(as_raw ? ".nii" : ".nii.gz") + (as_multipart ? " multipart" : ""));
      break;
    }
    case kCorrupt: {
      const int which = static_cast<int>(rng() % 5);
      std::string bytes;
      if (which == 0) bytes = random_bytes(rng, 1 + rng() % 5000);
      if (which == 1) bytes = gzip_bytes(random_bytes(rng, 1 + rng() % 5000));
      if (which == 2) bytes = "";
      if (which == 3) bytes = "this is not a CT volume";
      if (which == 4) bytes = gz.substr(0, 20 + rng() % (gz.size() - 20));  // gzip cut short
      s.record(kind, http_exchange(port, request("POST", "/api/jobs?name=bad.nii.gz", bytes)),
               "variant " + std::to_string(which));
      break;
    }
    case kTruncated: {
      const std::string bytes = raw.substr(0, 4 + rng() % (raw.size() - 8));
      s.record(kind, http_exchange(port, request("POST", "/api/jobs?name=cut.nii", bytes)),
               std::to_string(bytes.size()) + " bytes");
      break;
    }
    case kFlipped: {
      std::string bytes = raw;
      const int flips = 1 + static_cast<int>(rng() % 4);
      std::string where;
      for (int i = 0; i < flips; ++i) {
        const size_t at = rng() % 348;  // inside the NIfTI-1 header
        bytes[at] = static_cast<char>(rng() & 0xff);
        where += std::to_string(at) + " ";
      }
      upload_flow(s, kind, bytes, false, "header bytes " + where);
      break;
    }
    case kOversize: {
      const std::string bytes(kMaxUpload + 1 + rng() % 1000, 'x');
      s.record(kind, http_exchange(port, request("POST", "/api/jobs", bytes)),
               std::to_string(bytes.size()) + " bytes");
      break;
    }
    case kOversizeClaim:
      s.record(kind,
               http_exchange(port,
                             "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                             "10000000000000\r\nConnection: close\r\n\r\n" +
                                 random_bytes(rng, 1000)),
               "");
      break;
    case kStopAndClose:
    case kStopAndWait:
    case kStopAndReset:
      stop_halfway(s, kind, rng() % 2 ? gz : raw);
      break;
    case kConnectAndReset: {
      const int fd = connect_to(port);
      if (fd >= 0) reset_close(fd);
      s.record(kind, Reply{}, "");
      break;
    }
    case kSilent: {
      const auto t0 = Clock::now();
      const int fd = connect_to(port);
      const Reply r = parse_reply(fd >= 0 ? recv_until_close(fd) : "", t0);
      if (fd >= 0) close(fd);
      s.record(kind, r, "");
      if (r.seconds > kHeaderTimeout + kCutOffSlack) {
        s.problem("a silent connection was closed after " + std::to_string(r.seconds) + " s");
      }
      break;
    }
    case kSlowHead:
      slow_client(s, kind,
                  "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " +
                      std::string(100, 'a') + "\r\n\r\n",
                  "", kHeaderTimeout, "--header-timeout");
      break;
    case kSlowBody:
      slow_client(s, kind,
                  "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n",
                  std::string(1000, 'b'), kReadTimeout + 1000.0 / (64 * 1024), "--min-rate");
      break;
    case kPoll:
    case kMask:
    case kSlice:
    case kKinds:
      break;  // parts of upload_flow
  }
}

struct Task {
  Kind kind;
  uint32_t seed;
};

// One round of the mix: every fast kind, weighted roughly as a busy server might see them.
std::vector<Task> mixed_round(std::mt19937& rng) {
  const std::vector<std::pair<Kind, int>> weights = {
      {kUpload, 6},         {kHealth, 6},       {kPage, 2},        {kHead, 1},
      {kKeptAlive, 2},      {kUnknownRoute, 3}, {kWrongMethod, 3}, {kBadMethod, 1},
      {kGarbage, 2},        {kLongTarget, 1},   {kHeaderFlood, 1}, {kChunked, 1},
      {kNoLength, 1},       {kBadLength, 1},    {kUnknownJob, 2},  {kBadWait, 1},
      {kCorrupt, 4},        {kTruncated, 2},    {kFlipped, 4},     {kOversize, 2},
      {kOversizeClaim, 2},  {kStopAndClose, 2}, {kStopAndWait, 1}, {kStopAndReset, 1},
      {kConnectAndReset, 1}};
  std::vector<Task> tasks;
  for (const auto& [kind, n] : weights) {
    for (int i = 0; i < n; ++i) tasks.push_back({kind, static_cast<uint32_t>(rng())});
  }
  std::shuffle(tasks.begin(), tasks.end(), rng);
  return tasks;
}

// Runs `tasks` on `workers` client threads at once.
void run_tasks(Soak& s, const std::vector<Task>& tasks, int workers, const Volumes& v) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < tasks.size();) run_kind(s, tasks[i].kind, tasks[i].seed, v);
    });
  }
  for (std::thread& t : threads) t.join();
}

// Many clients at once, each with a few quick requests.
std::vector<Task> burst(std::mt19937& rng, int clients) {
  std::vector<Task> tasks;
  const Kind quick[] = {kHealth, kPage, kUnknownRoute, kWrongMethod};
  for (int i = 0; i < clients * 4; ++i)
    tasks.push_back({quick[i % 4], static_cast<uint32_t>(rng())});
  return tasks;
}

// Clients that hold a connection on purpose: a byte a second, silent, a body that stalls.
std::vector<Task> slow_group(std::mt19937& rng) {
  std::vector<Task> tasks;
  for (Kind k : {kSlowHead, kSlowBody, kSilent, kStopAndWait}) {
    for (int i = 0; i < 3; ++i) tasks.push_back({k, static_cast<uint32_t>(rng())});
  }
  return tasks;
}

// One phase of the soak: `rounds` of the mix on 6 client threads while slow clients hold
// connections on purpose (two groups of 12, within the server's 24 threads, so each is cut off by
// its own limit and not by a wait for a thread), then a burst of 64 clients at once.
void run_phase(Soak& s, std::mt19937& rng, int rounds, const Volumes& v) {
  std::vector<Task> mix;
  for (int round = 0; round < rounds; ++round) {
    const std::vector<Task> r = mixed_round(rng);
    mix.insert(mix.end(), r.begin(), r.end());
  }
  const std::vector<Task> slow_a = slow_group(rng), slow_b = slow_group(rng);
  std::thread slow([&] {
    run_tasks(s, slow_a, 12, v);
    run_tasks(s, slow_b, 12, v);
  });
  run_tasks(s, mix, 6, v);
  slow.join();
  run_tasks(s, burst(rng, 64), 64, v);
}

// ---- the fixture: one server, its checkpoint and volumes ----

class UnetServeSoak : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    signal(SIGPIPE, SIG_IGN);  // a send racing the server's close must fail, not kill the test
    root_ = std::make_unique<unet::testing::TempDir>("unet_serve_soak");
    fs::create_directories(tmp());
    workflow::Preprocess pre;
    pre.slice.height = pre.slice.width = kNet;
    pre.norm.mean = 0.2;
    pre.norm.std = 0.2;
    model::UNetConfig cfg;
    cfg.depth = 2;
    cfg.base = 4;
    model::UNet net(cfg, 3);  // random init: the soak checks the server, not the masks
    const std::string ckpt = (root() / "tiny.safetensors").string();
    workflow::save_checkpoint(ckpt, net, nullptr,
                              {{"preprocess", workflow::preprocess_to_json(pre)}});
    volumes_ = new Volumes();
    for (int nz : {4, 5, 6}) {
      phantom::PhantomOptions po;
      po.nx = po.ny = 64;
      po.nz = nz;
      po.seed = 40 + static_cast<uint64_t>(nz);
      const phantom::Phantom ph = phantom::make_phantom(po);
      const std::vector<float> hu(ph.hu.begin(), ph.hu.end());
      for (const char* ext : {".nii.gz", ".nii"}) {
        const fs::path p = root() / ("ct" + std::to_string(nz) + ext);
        io::write_nifti(p.string(), ph.geometry, hu, kInt16);
        (std::string(ext) == ".nii" ? volumes_->raw : volumes_->gz).push_back(file_contents(p));
      }
    }
    server_ = new ServerProcess({"--checkpoint",     ckpt,
                                 "--device",         "cpu",
                                 "--max-upload-mb",  "1",
                                 "--batch",          "4",
                                 "--max-queue",      "64",
                                 "--keep-results",   "32",
                                 "--threads",        std::to_string(kThreads),
                                 "--read-timeout",   std::to_string(kReadTimeout),
                                 "--header-timeout", std::to_string(kHeaderTimeout),
                                 "--tmp-dir",        tmp().string()},
                                root() / "server.log");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete volumes_;
    unet::testing::drop_scratch(root_);  // UNET_KEEP_TEST_FILES=1 keeps it for a look
  }
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kBinary)) << kBinary << " is missing: build the unet_serve target";
    ASSERT_GT(server_->port(), 0) << "unet_serve did not start:\n" << server_->log();
  }

  static const fs::path& root() { return root_->path(); }
  static fs::path tmp() { return root() / "tmp"; }
  // Files left in the server's private folder under --tmp-dir.
  static std::vector<std::string> temp_files() {
    std::vector<std::string> left;
    for (const auto& d : fs::recursive_directory_iterator(tmp())) {
      if (!d.is_directory()) left.push_back(d.path().string());
    }
    return left;
  }
  // Brings the server to the same live state before each memory reading: nothing queued or
  // running, and the kept results (--keep-results) all replaced by results of one same volume, so
  // that what the ring happens to hold does not count as growth.
  static void settle(Soak& s) {
    for (int i = 0; i < 100; ++i) {
      const Reply h = http_exchange(s.port(), request("GET", "/api/health"));
      if (h.status == 200 && json::parse(h.body, nullptr, false)["queue"] == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (int i = 0; i < kKeepResults; ++i)
      upload_flow(s, kUpload, volumes_->gz[0], false, "settle");
  }

  static std::unique_ptr<unet::testing::TempDir> root_;
  static ServerProcess* server_;
  static Volumes* volumes_;
};
std::unique_ptr<unet::testing::TempDir> UnetServeSoak::root_;
ServerProcess* UnetServeSoak::server_ = nullptr;
Volumes* UnetServeSoak::volumes_ = nullptr;

std::string error_of(const Reply& r) {
  const json j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") && j["error"].is_string()
             ? j["error"].get<std::string>()
             : r.body;
}

TEST_F(UnetServeSoak, AbuseIsAnsweredWithTheRightStatus) {
  const int port = server_->port();
  // A known path asked with another method: 405 with Allow.
  Reply r = http_exchange(port, request("DELETE", "/api/jobs"));
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_NE(r.head.find("\r\nAllow: POST"), std::string::npos) << r.head;
  EXPECT_EQ(error_of(r), "DELETE /api/jobs: this endpoint answers POST only (see docs/SERVE.md)");
  r = http_exchange(port, request("POST", "/api/health", "x"));
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_NE(r.head.find("\r\nAllow: GET, HEAD"), std::string::npos) << r.head;
  // An unknown method, a garbage line, an over-long target.
  r = http_exchange(port, request("BREW", "/pot"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("malformed HTTP request"), std::string::npos) << r.body;
  r = http_exchange(port, request("GET", "/" + std::string(9000, 'a')));
  EXPECT_EQ(r.status, 414);
  EXPECT_NE(error_of(r).find("longer than 8192 bytes"), std::string::npos) << r.body;
  // A head of 1 MB (each line under httplib's 8 KiB, so only the total is over): 431, and quickly
  // (httplib alone kept reading, 200 MB in 8 s, until the header timeout).
  r = http_exchange(port, header_flood(1024 * 1024));
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(error_of(r),
            "the request line and headers are over 64 KiB; send fewer or shorter headers");
  EXPECT_LT(r.seconds, kHeaderTimeout) << "refused by size, not by the header timeout";
  // A length that is not a number, and a claim far over the limit, refused before any body.
  r = http_exchange(port, "POST /api/jobs HTTP/1.1\r\nContent-Length: 12abc\r\n\r\nabc");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "Content-Length '12abc' is not a byte count");
  r = http_exchange(port, "POST /api/jobs HTTP/1.1\r\nContent-Length: 10000000000000\r\n\r\nabc");
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(error_of(r).find("upload of 10000000000000 bytes is over this server's limit"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.head.find("\r\nConnection: close"), std::string::npos) << r.head;
  // A body that ends early (the client half-closes): 400 naming how much arrived.
  const std::string half =
      "POST /api/jobs HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + std::string(400, 'x');
  {
    const auto t0 = Clock::now();
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    send_all(fd, half);
    shutdown(fd, SHUT_WR);
    r = parse_reply(recv_until_close(fd), t0);
    close(fd);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_of(r),
              "the request body ended after 400 of 1000 body bytes (its Content-Length); send "
              "the whole file");
  }
  // The same body, with the client then silent: cut off by --read-timeout, 408.
  {
    const auto t0 = Clock::now();
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    send_all(fd, half);
    r = parse_reply(recv_until_close(fd), t0);
    close(fd);
    EXPECT_EQ(r.status, 408);
    EXPECT_NE(error_of(r).find("the client sent nothing for 2.5 s (--read-timeout) after 400 of "
                               "1000 body bytes"),
              std::string::npos)
        << r.body;
    EXPECT_GE(r.seconds, kReadTimeout - 0.1);
    EXPECT_LE(r.seconds, kReadTimeout + kCutOffSlack);
  }
  // A head sent a byte a second: cut off by --header-timeout, 408, within its bound.
  Soak s(port);
  slow_client(s, kSlowHead, "GET /api/health HTTP/1.1\r\nX-Slow: " + std::string(100, 'a'), "",
              kHeaderTimeout, "--header-timeout");
  const Tally slow = s.tallies()[kSlowHead];
  EXPECT_EQ(slow.statuses.count(408), 1u);
  EXPECT_GE(slow.slowest, kHeaderTimeout - 0.1) << "cut off before its limit";
  for (const std::string& p : s.problems()) ADD_FAILURE() << p;
  // Kept-alive: three requests on one connection, each answered.
  kept_alive(s);
  EXPECT_EQ(s.tallies()[kKeptAlive].count, 3);
  for (const std::string& p : s.problems()) ADD_FAILURE() << p;
  r = http_exchange(port, request("GET", "/api/health"));
  EXPECT_EQ(r.status, 200) << "the server stopped answering:\n" << server_->log();
}

TEST_F(UnetServeSoak, SurvivesMixedAbuse) {
  Soak s(server_->port());
  std::mt19937 rng(20261202);  // fixed: a failure reproduces with the same requests
  const auto t0 = Clock::now();
  const int64_t rss_start = server_->rss_kb();

  // Warm-up: the same phases as the soak, so every HTTP thread, the kept results
  // (--keep-results 32) and the allocator's arenas reach their working size before memory is
  // measured.
  run_phase(s, rng, 8, *volumes_);
  settle(s);
  const int64_t rss_warm = server_->rss_kb();
  const int64_t warm_requests = [&] {
    int64_t n = 0;
    for (const Tally& t : s.tallies()) n += t.count;
    return n;
  }();
  // UNET_SOAK_ROUNDS=N runs a longer soak by hand (default 10 rounds of about 70 requests).
  const char* rounds_env = std::getenv("UNET_SOAK_ROUNDS");
  run_phase(s, rng, rounds_env ? std::max(1, std::atoi(rounds_env)) : 10, *volumes_);
  settle(s);
  const int64_t rss_end = server_->rss_kb();
  const double wall = seconds_since(t0);

  // Zero crashes: alive and answering.
  ASSERT_TRUE(server_->alive()) << "unet_serve died (" << server_->how_it_ended() << "):\n"
                                << server_->log();
  const Reply h = http_exchange(server_->port(), request("GET", "/api/health"));
  EXPECT_EQ(h.status, 200) << "the server stopped answering:\n" << server_->log();

  // The figures, for docs/SERVE.md.
  const std::array<Tally, kKinds> tallies = s.tallies();
  int64_t total = 0;
  double slowest = 0;
  std::string slowest_kind;
  std::ostringstream table;
  table << "| kind | requests | statuses | slowest s |\n|---|---|---|---|\n";
  for (int k = 0; k < kKinds; ++k) {
    const Tally& t = tallies[k];
    total += t.count;
    std::string statuses;
    for (const auto& [status, n] : t.statuses) {
      statuses += (statuses.empty() ? "" : ", ") +
                  (status == 0 ? std::string("none") : std::to_string(status)) + " x" +
                  std::to_string(n);
    }
    char slow_s[16];
    std::snprintf(slow_s, sizeof slow_s, "%.2f", t.slowest);
    table << "| " << kinds()[k].name << " | " << t.count << " | " << statuses << " | " << slow_s
          << " |\n";
    if (!kinds()[k].deliberately_slow && t.slowest > slowest) {
      slowest = t.slowest;
      slowest_kind = kinds()[k].name;
    }
    EXPECT_GT(t.count, 0) << kinds()[k].name << " never ran";
  }
  std::printf(
      "soak: %lld requests (%lld in the warm-up), %lld problems, %.1f s\n"
      "soak: VmRSS %lld kB at start, %lld kB after warm-up, %lld kB at the end (%+.1f %%)\n"
      "soak: slowest answer %.2f s (%s), not counting the deliberately slow kinds\n%s",
      static_cast<long long>(total), static_cast<long long>(warm_requests),
      static_cast<long long>(s.problem_count()), wall, static_cast<long long>(rss_start),
      static_cast<long long>(rss_warm), static_cast<long long>(rss_end),
      100.0 * static_cast<double>(rss_end - rss_warm) / static_cast<double>(rss_warm), slowest,
      slowest_kind.c_str(), table.str().c_str());

  EXPECT_GE(total, 1000);
  EXPECT_EQ(s.problem_count(), 0);
  for (const std::string& p : s.problems()) ADD_FAILURE() << p;
  ASSERT_GT(rss_warm, 0);
  EXPECT_LT(static_cast<double>(rss_end), 1.10 * static_cast<double>(rss_warm))
      << "resident memory grew more than 10 % after the warm-up";
  EXPECT_TRUE(temp_files().empty()) << temp_files().front();

  // And it still stops cleanly, removing its temp folder.
  EXPECT_EQ(server_->stop(SIGTERM), 0) << server_->log();
  EXPECT_TRUE(fs::is_empty(tmp())) << "temp folder left behind";
}

}  // namespace
