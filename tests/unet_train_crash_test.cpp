// unet_train survives being killed and running out of room. The binary is killed with SIGKILL at
// 20 seeded moments (at start-up, between steps, between epochs, and stalled inside every kind of
// checkpoint and report write through UNET_FAULT_STALL_WRITE, io/atomic_file.h), resumed each time
// from last.safetensors, and must end bitwise equal to an uninterrupted run; after every kill all
// outputs in the run folder must load and the only temp files allowed are the killed process's
// own (the next run removes them). A file-size limit, a read-only output folder, an output path
// under a file and a second run on the same folder must each fail with one line naming the path
// and leave the previous checkpoint loadable.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "io/atomic_file.h"
#include "io/png.h"
#include "io/slice_cache.h"
#include "tests/testing/app_run.h"
#include "tests/testing/temp_dir.h"
#include "workflow/checkpoint.h"
#include "workflow/train_state.h"

namespace unet {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kBinary = std::string(UNET_BINARY_DIR) + "/unet_train";
const std::vector<std::string> kOutputs = {"best.safetensors", "last.safetensors", "metrics.csv",
                                           "dice_curve.png", "dice_curve.svg"};
constexpr int kEpochs = 10;
constexpr uint64_t kSeed = 7;

// ---------------------------------------------------------------------------------------------
// A tiny slice cache: 16x16 slices with a bright disk (the "liver") and a dimmer one on noise.

void write_tiny_cache(const fs::path& dir, const std::string& split, int volumes, int slices,
                      uint64_t seed) {
  constexpr int kSize = 16;
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> unit(0.f, 1.f);
  io::SliceCacheManifest m;
  m.split = split;
  m.options.height = m.options.width = kSize;
  m.keep_empty = true;
  std::vector<float> images;
  std::vector<uint8_t> masks;
  for (int v = 0; v < volumes; ++v) {
    io::CacheVolume vol;
    vol.name = split + std::to_string(v);
    vol.image_path = vol.name + ".nii.gz";
    vol.mask_path = vol.name + "_mask.nii.gz";
    vol.nx = vol.ny = kSize;
    vol.nz = slices;
    vol.liver_slices = slices;
    for (int k = 0; k < slices; ++k) {
      vol.slices.push_back(k);
      const float cy = 5 + 6 * unit(rng), cx = 5 + 6 * unit(rng), r = 2.5f + 2 * unit(rng);
      for (int y = 0; y < kSize; ++y) {
        for (int x = 0; x < kSize; ++x) {
          const float d2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
          const float decoy = (y - (kSize - cy)) * (y - (kSize - cy)) + (x - cx) * (x - cx);
          const bool liver = d2 < r * r;
          images.push_back((liver ? 1.f : decoy < 4 ? 0.5f : 0.f) + 0.2f * (unit(rng) - 0.5f));
          masks.push_back(liver ? 1 : 0);
        }
      }
    }
    m.volumes.push_back(vol);
  }
  io::index_volumes(m);
  io::write_slice_cache(dir.string(), m, images, masks);
}

// ---------------------------------------------------------------------------------------------
// unet_train as a child process: stdout and stderr read through pipes as they come, so the test
// can act on a progress line or a stall line the moment it appears.

struct Spawn {
  std::vector<std::string> args;
  // Added to (or replacing in) the test's environment. One thread each: on a loaded 2-core
  // machine, spinning OpenMP and OpenBLAS workers made a 0.2 s run take up to 10 s.
  std::map<std::string, std::string> env = {{"OMP_NUM_THREADS", "1"},
                                            {"OPENBLAS_NUM_THREADS", "1"}};
  std::optional<rlim_t> file_size_limit;  // RLIMIT_FSIZE in bytes
  bool as_nobody = false;                 // drop to uid/gid 65534 (for the read-only case)
};

class Child {
 public:
  explicit Child(const Spawn& spawn) {
    std::vector<std::string> argv_s{kBinary};
    argv_s.insert(argv_s.end(), spawn.args.begin(), spawn.args.end());
    std::map<std::string, std::string> env_map;
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      const size_t eq = kv.find('=');
      if (eq != std::string::npos) env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : spawn.env) env_map[k] = v;
    std::vector<std::string> env_s;
    for (const auto& [k, v] : env_map) env_s.push_back(k + "=" + v);
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    std::vector<char*> argv, envp;
    for (std::string& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (std::string& s : env_s) envp.push_back(s.data());
    envp.push_back(nullptr);
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      if (spawn.file_size_limit) {
        const rlimit lim{*spawn.file_size_limit, *spawn.file_size_limit};
        if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(126);
      }
      if (spawn.as_nobody &&
          (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) {
        ::_exit(126);
      }
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    started_ = Clock::now();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      finish();
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }

  // Reads output until `done()` holds (true), both pipes close (false: the child is exiting) or
  // `timeout_s` passes (throws).
  bool read_until(const std::function<bool()>& done, double timeout_s = 120) {
    const Clock::time_point end =
        Clock::now() + std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
    while (!done()) {
      if (out_fd_ < 0 && err_fd_ < 0) return false;
      pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
      if (left <= 0) {
        throw std::runtime_error("unet_train did not get there in " + std::to_string(timeout_s) +
                                 " s; stdout:\n" + out_ + "\nstderr:\n" + err_);
      }
      // At most 1 ms per poll, so a condition on the clock (a start-up kill) is seen in time.
      if (::poll(fds, 2, std::min(left, 1)) < 0 && errno != EINTR) {
        throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
      }
      drain(fds[0], out_fd_, out_);
      drain(fds[1], err_fd_, err_);
    }
    return true;
  }
  bool wait_for_out(const std::string& text, double timeout_s = 120) {
    return read_until([&] { return out_.find(text) != std::string::npos; }, timeout_s);
  }
  bool wait_for_err(const std::string& text, double timeout_s = 120) {
    return read_until([&] { return err_.find(text) != std::string::npos; }, timeout_s);
  }

  void kill9() { ::kill(pid_, SIGKILL); }

  // Reads the rest of the output and reaps the child; returns its wait status.
  int finish() {
    read_until([] { return false; });
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
  }

 private:
  static void drain(const pollfd& p, int& fd, std::string& into) {
    if (fd < 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) return;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      ::close(fd);
      fd = -1;
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  bool reaped_ = false;
  std::string out_, err_;
  Clock::time_point started_;
};

std::string describe(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// ---------------------------------------------------------------------------------------------
// What a run folder holds.

std::vector<std::string> train_args(const fs::path& cache, const fs::path& run, bool resume) {
  std::vector<std::string> a = {"--cache=" + cache.string(),
                                "--out=" + run.string(),
                                "--device=cpu",
                                "--depth=2",
                                "--base=4",
                                "--batch=4",
                                "--epochs=" + std::to_string(kEpochs),
                                "--seed=" + std::to_string(kSeed),
                                "--augment",
                                "--progress-every=1"};
  if (resume) {
    a.push_back("--resume");
    a.push_back((run / "last.safetensors").string());
  }
  return a;
}

// The epoch last.safetensors holds (0 when there is none); fails the test if it does not restore.
int saved_epoch(const fs::path& run) {
  const fs::path last = run / "last.safetensors";
  if (!fs::exists(last)) return 0;
  try {
    return workflow::restore_train_state(last.string(), Device::cpu(), 1e-3f, kSeed).epoch;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "last.safetensors does not restore: " << e.what();
    return -1;
  }
}

// Every output present in `run` is complete and readable: both checkpoints load, metrics.csv has
// its header and whole rows numbered from 1 for all saved epochs (the last may be missing: the
// kill came between last.safetensors and the report), the PNG decodes and the SVG is closed.
void expect_outputs_readable(const fs::path& run, const std::string& when) {
  SCOPED_TRACE(when);
  const int saved = saved_epoch(run);
  if (fs::exists(run / "best.safetensors")) {
    EXPECT_NO_THROW({
      const workflow::CheckpointContents best =
          workflow::read_checkpoint((run / "best.safetensors").string());
      workflow::load_model(best);
      best.preprocess();
    });
  }
  if (fs::exists(run / "metrics.csv")) {
    std::istringstream csv(testing::file_contents(run / "metrics.csv"));
    std::string line;
    std::getline(csv, line);
    EXPECT_EQ(line, "epoch,train_loss,train_dice,val_loss,val_dice,lr,seconds");
    int row = 0;
    while (std::getline(csv, line)) {
      ++row;
      EXPECT_EQ(std::count(line.begin(), line.end(), ','), 6) << line;
      EXPECT_EQ(line.substr(0, line.find(',')), std::to_string(row)) << line;
    }
    EXPECT_TRUE(row == saved || row == saved - 1) << row << " rows, epoch " << saved << " saved";
    EXPECT_EQ(testing::file_contents(run / "metrics.csv").back(), '\n');
  }
  if (fs::exists(run / "dice_curve.png")) {
    EXPECT_NO_THROW(io::read_png((run / "dice_curve.png").string()));
  }
  if (fs::exists(run / "dice_curve.svg")) {
    const std::string svg = testing::file_contents(run / "dice_curve.svg");
    EXPECT_NE(svg.rfind("</svg>"), std::string::npos) << "dice_curve.svg is cut short";
  }
}

// The temp files in `run`, each as (output name, writer's pid). Anything that is neither an
// output nor a temp file of one (or of the write probe unet_train makes at start) fails the test.
std::vector<std::pair<std::string, long>> temp_files(const fs::path& run) {
  std::vector<std::string> targets = kOutputs;
  targets.push_back(".unet_train_write_probe");
  std::vector<std::pair<std::string, long>> temps;
  if (!fs::exists(run)) return temps;  // killed before it made the folder
  for (const fs::directory_entry& e : fs::directory_iterator(run)) {
    const std::string name = e.path().filename().string();
    if (std::find(kOutputs.begin(), kOutputs.end(), name) != kOutputs.end()) continue;
    bool known = false;
    for (const std::string& target : targets) {
      if (io::is_temp_file_of(name, target)) {
        temps.emplace_back(target, std::stol(name.substr(target.size() + 5)));
        known = true;
      }
    }
    EXPECT_TRUE(known) << "unexpected file in the run folder: " << name;
  }
  return temps;
}

// The tensors and training counters of two training checkpoints are identical (the metrics rows
// too, except their wall-clock seconds).
void expect_same_checkpoint(const fs::path& a_path, const fs::path& b_path) {
  const workflow::CheckpointContents a = workflow::read_checkpoint(a_path.string());
  const workflow::CheckpointContents b = workflow::read_checkpoint(b_path.string());
  ASSERT_EQ(a.file.tensors.size(), b.file.tensors.size()) << a_path << " vs " << b_path;
  for (const NamedTensor& ta : a.file.tensors) {
    ASSERT_TRUE(b.file.has(ta.name)) << ta.name;
    const Tensor& tb = b.file.get(ta.name);
    ASSERT_EQ(ta.tensor.nbytes(), tb.nbytes()) << ta.name;
    EXPECT_EQ(std::memcmp(ta.tensor.raw_data(), tb.raw_data(), tb.nbytes()), 0)
        << ta.name << " differs between " << a_path << " and " << b_path;
  }
  for (const auto& [key, value] : a.metadata) {
    if (key != "train_state") {
      EXPECT_EQ(value, b.metadata.at(key)) << key;
      continue;
    }
    nlohmann::json ja = nlohmann::json::parse(value),
                   jb = nlohmann::json::parse(b.metadata.at(key));
    for (nlohmann::json* j : {&ja, &jb}) {
      for (nlohmann::json& row : (*j)["history"]) row[6] = 0;  // seconds: wall-clock time
    }
    EXPECT_EQ(ja, jb) << "train_state differs";
  }
}

// metrics.csv without its last column (seconds).
std::string metrics_without_seconds(const fs::path& run) {
  std::istringstream in(testing::file_contents(run / "metrics.csv"));
  std::string line, kept;
  while (std::getline(in, line)) kept += line.substr(0, line.rfind(',')) + "\n";
  return kept;
}

// ---------------------------------------------------------------------------------------------

class UnetTrainCrash : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>("unet_train_crash");
    write_tiny_cache(dir_->path() / "cache" / "train", "train", 5, 6, 1);
    write_tiny_cache(dir_->path() / "cache" / "test", "test", 1, 4, 2);
  }
  static void TearDownTestSuite() { testing::drop_scratch(dir_); }

  static fs::path cache() { return dir_->path() / "cache"; }
  static fs::path folder(const std::string& name) { return dir_->path() / name; }

  // Runs unet_train in `run` (resuming when asked, with `extra` arguments) and expects success.
  static void run_ok(const fs::path& run, bool resume, const std::string& why,
                     const std::vector<std::string>& extra = {}) {
    Spawn spawn;
    spawn.args = train_args(cache(), run, resume);
    spawn.args.insert(spawn.args.end(), extra.begin(), extra.end());
    Child c(spawn);
    const int status = c.finish();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << why << ": " << describe(status) << "\n"
        << c.err();
  }
  static void run_to_end(const fs::path& run, bool resume, const std::string& why) {
    run_ok(run, resume, why);
  }

  // A run folder after epoch 1 (made once per process), to copy and continue from.
  static const fs::path& after_epoch_1() {
    static const fs::path path = [] {
      const fs::path p = folder("after_epoch_1");
      run_ok(p, false, "epoch 1", {"--stop-after-epoch", "1"});
      return p;
    }();
    return path;
  }

  // A fresh copy of after_epoch_1() named `name`.
  static fs::path copy_of_epoch_1(const std::string& name) {
    const fs::path to = folder(name);
    fs::remove_all(to);
    fs::copy(after_epoch_1(), to, fs::copy_options::recursive);
    return to;
  }

  // Expects a failed run: exit status 1 and exactly one line on stderr, starting with
  // "unet_train: error: <path>" and containing `what`.
  static void expect_one_line_error(const Child& c, int status, const std::string& path,
                                    const std::string& what) {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << describe(status) << "\n"
                                                               << c.err();
    EXPECT_EQ(std::count(c.err().begin(), c.err().end(), '\n'), 1) << c.err();
    EXPECT_EQ(c.err().rfind("unet_train: error: " + path + ":", 0), 0u)
        << "expected the error to name " << path << ":\n"
        << c.err();
    EXPECT_NE(c.err().find(what), std::string::npos) << c.err();
  }

  // The uninterrupted run every other one is compared with, made once per process.
  static const fs::path& reference() {
    static const fs::path ref = [] {
      const fs::path r = folder("reference");
      const Clock::time_point t0 = Clock::now();
      run_to_end(r, false, "reference run");
      std::cout << "reference run: " << std::chrono::duration<double>(Clock::now() - t0).count()
                << " s\n";
      return r;
    }();
    return ref;
  }

  static std::unique_ptr<testing::TempDir> dir_;
};
std::unique_ptr<testing::TempDir> UnetTrainCrash::dir_;

// One planned kill. Start-up: after `delay_ms` from the spawn. Step: `delay_ms` after the
// progress line of step `step` of `epoch`. Between epochs: `delay_ms` after the summary line of
// `epoch`. Stall: inside the write of `file` (at `phase`) for `epoch`, or in the report rewrite
// a resumed run does at start (`at_start`).
enum class Moment { kStartUp, kStep, kBetweenEpochs, kStall };
struct Kill {
  Moment moment = Moment::kStartUp;
  int epoch = 0, step = 0;
  double delay_ms = 0;
  std::string file, phase;
  bool at_start = false;
  std::string describe() const {
    std::ostringstream s;
    switch (moment) {
      case Moment::kStartUp:
        s << "start-up +" << delay_ms << " ms";
        break;
      case Moment::kStep:
        s << "epoch " << epoch << " step " << step << " +" << delay_ms << " ms";
        break;
      case Moment::kBetweenEpochs:
        s << "after epoch " << epoch << " +" << delay_ms << " ms";
        break;
      case Moment::kStall:
        s << "inside " << file << " (" << phase << ") "
          << (at_start ? std::string("rewritten at start") : "of epoch " + std::to_string(epoch));
        break;
    }
    return s.str();
  }
};

TEST_F(UnetTrainCrash, TwentyKillsAndResumesEndBitwiseEqualToAnUninterruptedRun) {
  const fs::path ref = reference();
  // From the reference: steps per epoch (progress lines "step k/S") and the epochs that improve
  // the validation loss, i.e. the ones that write best.safetensors.
  const workflow::TrainState ref_state = workflow::restore_train_state(
      (ref / "last.safetensors").string(), Device::cpu(), 1e-3f, kSeed);
  ASSERT_EQ(ref_state.epoch, kEpochs);
  std::set<int> improving;
  double best = INFINITY;
  for (const workflow::EpochMetrics& m : ref_state.history) {
    if (m.val_loss < best) {
      best = m.val_loss;
      improving.insert(m.epoch);
    }
  }
  const int steps_per_epoch = static_cast<int>(ref_state.global_step / kEpochs);
  ASSERT_GE(steps_per_epoch, 3);

  // The kinds of the 20 kills: each kind of moment and every file and phase at least once, the
  // rest drawn at random; shuffled with the seed.
  std::mt19937 rng(20261202);
  std::vector<Kill> plan;
  const auto stall = [](const std::string& file, const std::string& phase, bool at_start) {
    Kill k;
    k.moment = Moment::kStall;
    k.file = file;
    k.phase = phase;
    k.at_start = at_start;
    return k;
  };
  for (Moment m : {Moment::kStartUp, Moment::kStep, Moment::kStep, Moment::kBetweenEpochs}) {
    Kill k;
    k.moment = m;
    plan.push_back(k);
  }
  for (const char* phase : {"partial", "synced", "renamed"}) {
    plan.push_back(stall("last.safetensors", phase, false));
  }
  plan.push_back(stall("best.safetensors", "partial", false));
  plan.push_back(stall("best.safetensors", "renamed", false));
  plan.push_back(stall("metrics.csv", "partial", false));
  plan.push_back(stall("dice_curve.png", "synced", false));
  plan.push_back(stall("dice_curve.svg", "partial", false));
  plan.push_back(stall("metrics.csv", "synced", true));
  plan.push_back(stall("dice_curve.png", "renamed", true));
  const std::vector<std::string> phases = {"partial", "synced", "renamed"};
  while (plan.size() < 20) {
    const int pick = static_cast<int>(rng() % 4);
    if (pick < 3) {
      Kill k;
      k.moment = static_cast<Moment>(pick);
      plan.push_back(k);
    } else {
      const std::string file = kOutputs[rng() % kOutputs.size()];
      const std::string phase =
          file == "dice_curve.png" ? phases[1 + rng() % 2] : phases[rng() % 3];
      plan.push_back(stall(file, phase, false));
    }
  }
  std::shuffle(plan.begin(), plan.end(), rng);

  const fs::path run = folder("killed");
  std::set<long> killed_pids;
  int temps_left = 0;
  double slowest = 0;
  const Clock::time_point t0 = Clock::now();
  for (size_t i = 0; i < plan.size(); ++i) {
    Kill k = plan[i];
    const int start = saved_epoch(run);
    // Spread the kills over the run: kill i aims at epoch 1 + i * epochs / 20, but never at one
    // that is already saved. Once all are saved, only the start-up is left to kill (the report
    // rewrite, the final test).
    k.epoch = std::clamp(1 + static_cast<int>(i) * kEpochs / 20, start + 1, kEpochs);
    if (start == kEpochs && (k.moment != Moment::kStall || !k.at_start)) {
      k = Kill{};
      k.moment = Moment::kStartUp;
    }
    if (k.moment == Moment::kStall && k.at_start && start == 0) k.at_start = false;
    Spawn spawn;
    spawn.args = train_args(cache(), run, start > 0);
    switch (k.moment) {
      case Moment::kStartUp:
        k.delay_ms = std::uniform_real_distribution<double>(0, 60)(rng);
        break;
      case Moment::kStep:
        k.step = 1 + static_cast<int>(rng() % (steps_per_epoch - 1));
        k.delay_ms = std::uniform_real_distribution<double>(0, 3)(rng);
        break;
      case Moment::kBetweenEpochs:
        k.delay_ms = std::uniform_real_distribution<double>(0, 3)(rng);
        break;
      case Moment::kStall: {
        // Which write of the file in this process: best.safetensors only in improving epochs;
        // the reports once more when a resumed run rewrites them at start.
        int nth = 0;
        if (k.at_start) {
          nth = 1;
        } else if (k.file == "best.safetensors") {
          auto next = improving.lower_bound(k.epoch);
          if (next == improving.end()) {
            k.file = "last.safetensors";
          } else {
            k.epoch = *next;
          }
        }
        if (!k.at_start) {
          for (int e = start + 1; e <= k.epoch; ++e) {
            if (k.file != "best.safetensors" || improving.count(e)) ++nth;
          }
          const bool report = k.file != "best.safetensors" && k.file != "last.safetensors";
          if (report && start > 0) ++nth;
        }
        spawn.env["UNET_FAULT_STALL_WRITE"] = k.file + ":" + std::to_string(nth) + ":" + k.phase;
        break;
      }
    }
    SCOPED_TRACE("kill " + std::to_string(i + 1) + " of 20: " + k.describe() +
                 ", resumed after epoch " + std::to_string(start));
    Child c(spawn);
    bool reached = true;
    switch (k.moment) {
      case Moment::kStartUp:
        reached = c.read_until([&] { return c.seconds() * 1000 >= k.delay_ms; });
        break;
      case Moment::kStep:
        reached = c.wait_for_out("epoch " + std::to_string(k.epoch) + "/" +
                                 std::to_string(kEpochs) + " step " + std::to_string(k.step) + "/");
        break;
      case Moment::kBetweenEpochs:
        reached = c.wait_for_out("epoch " + std::to_string(k.epoch) + "/" +
                                 std::to_string(kEpochs) + ": train loss");
        break;
      case Moment::kStall:
        reached = c.wait_for_err("UNET_FAULT_STALL_WRITE: stalled writing");
        break;
    }
    if (k.moment == Moment::kStep || k.moment == Moment::kBetweenEpochs) {
      std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int>(k.delay_ms * 1000)));
    }
    c.kill9();
    const int status = c.finish();
    slowest = std::max(slowest, c.seconds());
    // Only a start-up kill may come too late (the run finished); every other moment must be hit.
    if (k.moment != Moment::kStartUp) {
      ASSERT_TRUE(reached) << "the moment never came; " << describe(status) << "\n" << c.err();
    }
    ASSERT_TRUE(reached || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
        << describe(status) << "\n"
        << c.err();
    if (WIFSIGNALED(status)) killed_pids.insert(c.pid());
    if (k.moment == Moment::kStall) {
      EXPECT_NE(c.err().find(k.file + " (" + k.phase + ")"), std::string::npos) << c.err();
    }

    expect_outputs_readable(run, "after the kill");
    const int now = saved_epoch(run);
    EXPECT_GE(now, start) << "a kill lost a saved epoch";
    // Temp files: only the killed process's own, except after a start-up kill, which may come
    // before the run removed its predecessors'.
    for (const auto& [target, pid] : temp_files(run)) {
      EXPECT_TRUE(killed_pids.count(pid)) << target << " temp file of pid " << pid;
      if (k.moment != Moment::kStartUp) {
        EXPECT_EQ(pid, c.pid()) << target << ": stale temp file";
      }
      if (pid == c.pid()) ++temps_left;
    }
    // A stall before the rename leaves that file's temp file behind; one after it, none.
    if (k.moment == Moment::kStall) {
      bool found = false;
      for (const auto& [target, pid] : temp_files(run)) found |= target == k.file && pid == c.pid();
      EXPECT_EQ(found, k.phase != "renamed") << "temp file of " << k.file << " after the kill";
    }
    std::cout << "kill " << i + 1 << ": " << k.describe() << " (resumed after epoch " << start
              << ", now " << now << ", " << c.seconds() << " s)\n";
  }
  run_to_end(run, saved_epoch(run) > 0, "the final resume");
  std::cout << "20 kills and resumes: " << std::chrono::duration<double>(Clock::now() - t0).count()
            << " s, slowest child " << slowest << " s, " << temps_left
            << " kills left a temp file\n";
  EXPECT_TRUE(temp_files(run).empty()) << "temp files left after the final run";
  EXPECT_GE(temps_left, 1) << "no kill landed inside a write";

  expect_same_checkpoint(ref / "last.safetensors", run / "last.safetensors");
  expect_same_checkpoint(ref / "best.safetensors", run / "best.safetensors");
  EXPECT_EQ(metrics_without_seconds(ref), metrics_without_seconds(run));
  // The plots depend on the Dice values only, so they match byte for byte too.
  for (const char* plot : {"dice_curve.png", "dice_curve.svg"}) {
    EXPECT_TRUE(testing::file_contents(ref / plot) == testing::file_contents(run / plot)) << plot;
  }
}

// A file-size limit (what a full disk looks like to the writer): whichever write hits it, the run
// stops with one line naming that file, removes its temp file, and leaves checkpoints that load and
// resume to the same end as the uninterrupted run. One limit just below the size of each file the
// second epoch writes, and 0.
TEST_F(UnetTrainCrash, AFileSizeLimitStopsWithOneLineNamingTheFile) {
  const fs::path ref = reference();
  const fs::path one = after_epoch_1();
  const fs::path two = copy_of_epoch_1("after_epoch_2");
  run_ok(two, true, "epoch 2", {"--stop-after-epoch", "2"});
  const bool best_in_2 = workflow::restore_train_state((two / "last.safetensors").string(),
                                                       Device::cpu(), 1e-3f, kSeed)
                             .best_epoch == 2;
  // The writes of a run resumed after epoch 1, in order, with their sizes: the reports rewritten at
  // start, then epoch 2's checkpoints and reports.
  std::vector<std::pair<std::string, uintmax_t>> writes;
  for (const char* f : {"metrics.csv", "dice_curve.png", "dice_curve.svg"}) {
    writes.emplace_back(f, fs::file_size(one / f));
  }
  for (const std::string& f : kOutputs) {
    if (f != "best.safetensors" || best_in_2) writes.emplace_back(f, fs::file_size(two / f));
  }
  std::set<uintmax_t> limits = {0};
  for (const auto& w : writes) limits.insert(w.second - 1);
  const std::string last_before = testing::file_contents(one / "last.safetensors");
  for (const uintmax_t limit : limits) {
    SCOPED_TRACE("RLIMIT_FSIZE " + std::to_string(limit) + " bytes");
    std::string expected;  // the first write that does not fit
    for (const auto& w : writes) {
      if (w.second > limit) {
        expected = w.first;
        break;
      }
    }
    ASSERT_FALSE(expected.empty());
    const fs::path run = copy_of_epoch_1("fsize_" + std::to_string(limit));
    Spawn spawn;
    spawn.args = train_args(cache(), run, true);
    spawn.file_size_limit = limit;
    Child c(spawn);
    const int status = c.finish();
    expect_one_line_error(c, status, (run / expected).string(), "File too large");
    if (expected != "dice_curve.png") {  // libpng reports its own errors (io/png.cpp)
      EXPECT_NE(c.err().find("ulimit -f"), std::string::npos) << c.err();
    }
    expect_outputs_readable(run, "after the failed write");
    EXPECT_TRUE(temp_files(run).empty()) << "the failed write left its temp file";
    const std::string last_after = testing::file_contents(run / "last.safetensors");
    if (expected == "last.safetensors" || expected == "best.safetensors" ||
        writes.front().second > limit) {
      EXPECT_TRUE(last_after == last_before) << "last.safetensors changed before its write";
    }
    // The checkpoint left behind resumes to the same end as the uninterrupted run.
    run_to_end(run, true, "resume after the failed write");
    expect_same_checkpoint(ref / "last.safetensors", run / "last.safetensors");
    expect_same_checkpoint(ref / "best.safetensors", run / "best.safetensors");
  }
}

// An output folder that cannot be written stops the run before any training, with one line naming
// it; last.safetensors is untouched. As root, permissions do not stop writes, so the run is made
// as user nobody (65534) in a root-owned folder; otherwise the folder is made read-only.
TEST_F(UnetTrainCrash, AReadOnlyOutputFolderStopsBeforeTraining) {
  const fs::path run = copy_of_epoch_1("read_only");
  const std::string last_before = testing::file_contents(run / "last.safetensors");
  const bool root = ::geteuid() == 0;
  const fs::perms scratch_perms = fs::status(dir_->path()).permissions();
  if (root) {
    // nobody must reach the binary, the cache and the checkpoint to read them, not write.
    fs::permissions(dir_->path(), fs::perms::owner_all | fs::perms::group_read |
                                      fs::perms::group_exec | fs::perms::others_read |
                                      fs::perms::others_exec);
  } else {
    fs::permissions(run, fs::perms::owner_read | fs::perms::owner_exec);
    const std::string probe = (run / "probe").string();
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      ::close(fd);
      fs::remove(probe);
      fs::permissions(run, fs::perms::owner_all);
      GTEST_SKIP() << "this user writes into a read-only folder (a capability such as "
                      "CAP_DAC_OVERRIDE), so the case cannot be made here";
    }
  }
  Spawn spawn;
  spawn.args = train_args(cache(), run, true);
  spawn.as_nobody = root;
  Child c(spawn);
  const int status = c.finish();
  fs::permissions(dir_->path(), scratch_perms);
  fs::permissions(run, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
  if (root && WIFEXITED(status) && WEXITSTATUS(status) == 126) {
    GTEST_SKIP() << "cannot switch to user nobody (65534) in this container";
  }
  expect_one_line_error(c, status, run.string(), "not writable");
  EXPECT_EQ(c.out().find(" step "), std::string::npos) << "it trained first:\n" << c.out();
  EXPECT_TRUE(testing::file_contents(run / "last.safetensors") == last_before);
  EXPECT_TRUE(temp_files(run).empty());
}

// --out under a regular file cannot be created: one line naming it, nothing else written.
TEST_F(UnetTrainCrash, AnOutputPathUnderAFileIsOneLine) {
  const fs::path file = folder("a_file");
  { std::ofstream(file) << "not a folder\n"; }
  const fs::path run = file / "run";
  Spawn spawn;
  spawn.args = train_args(cache(), run, false);
  Child c(spawn);
  expect_one_line_error(c, c.finish(), run.string(), "cannot create the output folder");
  EXPECT_EQ(testing::file_contents(file), "not a folder\n");
}

// Two runs on one folder would overwrite each other's checkpoints and (at start) remove each
// other's temp files: the second is refused while the first holds the folder's lock.
TEST_F(UnetTrainCrash, ASecondRunOnTheSameFolderIsRefused) {
  const fs::path run = copy_of_epoch_1("locked");
  const std::string last_before = testing::file_contents(run / "last.safetensors");
  // A temp file as a live writer would have it: it must survive the refused run.
  const fs::path live_temp = run / "last.safetensors.tmp.1.0";
  { std::ofstream(live_temp) << "being written"; }
  const int fd = ::open(run.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  Spawn spawn;
  spawn.args = train_args(cache(), run, true);
  Child c(spawn);
  const int status = c.finish();
  ::close(fd);
  expect_one_line_error(c, status, run.string(), "another unet_train is writing");
  EXPECT_TRUE(fs::exists(live_temp)) << "the refused run removed another writer's temp file";
  EXPECT_TRUE(testing::file_contents(run / "last.safetensors") == last_before);
  // With the lock released, the next run removes the (now stale) temp file.
  run_ok(run, true, "after the lock", {"--stop-after-epoch", "2"});
  EXPECT_FALSE(fs::exists(live_temp));
}

// What the clean-up at start may remove: exactly AtomicFile's temp names of the given targets.
TEST(StaleTempFiles, OnlyTempFilesOfTheNamedTargetsAreRemoved) {
  EXPECT_TRUE(io::is_temp_file_of("last.safetensors.tmp.123.0", "last.safetensors"));
  EXPECT_FALSE(io::is_temp_file_of("last.safetensors", "last.safetensors"));
  EXPECT_FALSE(io::is_temp_file_of("last.safetensors.tmp.123", "last.safetensors"));
  EXPECT_FALSE(io::is_temp_file_of("last.safetensors.tmp.12x.0", "last.safetensors"));
  EXPECT_FALSE(io::is_temp_file_of("last.safetensors.tmp.1.2.3", "last.safetensors"));
  EXPECT_FALSE(io::is_temp_file_of("best.safetensors.tmp.1.2", "last.safetensors"));
  testing::TempDir dir("stale_temp");
  for (const char* name : {"last.safetensors", "last.safetensors.tmp.9.1", "metrics.csv.tmp.9.2",
                           "notes.txt.tmp.9.3", "last.safetensors.tmp.mine"}) {
    std::ofstream(dir.file(name)) << "x";
  }
  std::vector<std::string> removed =
      io::remove_stale_temp_files(dir.path().string(), {"last.safetensors", "metrics.csv"});
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{dir.file("last.safetensors.tmp.9.1"),
                                               dir.file("metrics.csv.tmp.9.2")}));
  for (const char* kept : {"last.safetensors", "notes.txt.tmp.9.3", "last.safetensors.tmp.mine"}) {
    EXPECT_TRUE(fs::exists(dir.path() / kept)) << kept;
  }
  EXPECT_THROW(io::remove_stale_temp_files(dir.file("missing"), {"x"}), std::runtime_error);
}

// A malformed fault-injection setting is refused loudly rather than silently not stalling (a
// crash test would then pass without killing inside a write).
TEST(StaleTempFiles, AMalformedStallSettingIsAnError) {
  testing::TempDir dir("stall_setting");
  for (const char* bad :
       {"last.safetensors", "last.safetensors:0:partial", "last.safetensors:1:halfway",
        ":1:partial", "last.safetensors:x:synced"}) {
    ::setenv("UNET_FAULT_STALL_WRITE", bad, 1);
    EXPECT_THROW(io::write_file_atomic(dir.file("a.bin"), "x", 1), std::invalid_argument) << bad;
  }
  // Naming another file: this write goes through untouched.
  ::setenv("UNET_FAULT_STALL_WRITE", "other.bin:1:partial", 1);
  EXPECT_NO_THROW(io::write_file_atomic(dir.file("a.bin"), "x", 1));
  ::unsetenv("UNET_FAULT_STALL_WRITE");
  EXPECT_EQ(testing::file_contents(dir.path() / "a.bin"), "x");
}

}  // namespace
}  // namespace unet
