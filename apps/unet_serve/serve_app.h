// unet_serve's pieces: the options, the private temp folder, upload checking, the inference queue
// (one worker thread owns the model, so requests never share it and results never mix), the HTTP
// connections with their time limits (main.cpp), the routes (cpp-httplib) and the embedded page.
// docs/SERVE.md describes the JSON API and the limits.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/nifti.h"
#include "model/unet.h"
#include "workflow/checkpoint.h"
#include "workflow/predictor.h"

namespace httplib {
class Server;
}

namespace unet::apps::serve {

struct Options {
  std::string checkpoint;
  std::string host = "127.0.0.1";  // loopback unless asked: the server has no authentication
  int port = 8080;                 // 0: any free port (printed on start)
  std::string device = "auto";
  double max_upload_mb = 512;  // request bodies above this are answered 413
  int batch = 8;
  float threshold = 0.5f;
  bool largest_component = false;
  int keep_results = 16;  // finished jobs kept in memory; the oldest are dropped first
  int max_queue = 8;      // waiting jobs; more are answered 503
  std::string tmp_dir;    // parent of the private temp folder; empty: $TMPDIR or /tmp
  // Connections (main.cpp). A slow or stalled client may hold one HTTP thread only this long.
  int threads = 32;              // HTTP threads; each open connection holds one
  double read_timeout_s = 15;    // longest silence while a request or an answer is in transit
  double header_timeout_s = 10;  // request line and headers, from taking up the connection
  double min_rate_kib_s = 64;    // bodies must average this (after read_timeout_s); 0: no floor
  double keep_alive_s = 5;       // an idle connection waits this long for its next request
};
// Checks ranges and required options; throws std::invalid_argument naming the option.
void validate_options(const Options& o);

// A private folder (mkdtemp, mode 0700) for the server's short-lived files, removed with its
// contents on destruction. File names inside it come from mkstemps, never from a client.
class TempDir {
 public:
  explicit TempDir(const std::string& parent);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // A new empty file "<dir>/<stem>XXXXXX<suffix>"; the caller removes it (TempFile does).
  std::string make_file(const std::string& stem, const std::string& suffix) const;

 private:
  std::string path_;
};

// Removes its file when it goes out of scope, whatever happened in between.
class TempFile {
 public:
  TempFile(const TempDir& dir, const std::string& stem, const std::string& suffix)
      : path_(dir.make_file(stem, suffix)) {}
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---- connections (main.cpp) ----

// Why reading the request now being answered on this thread failed: 408 when a time limit cut it
// off, 400 when its body ended early, 503 when the server is stopping; status 0 when it did not
// fail (or outside a connection thread). The message names the limit and what to do.
struct ReadFailure {
  int status = 0;
  std::string message;
};
ReadFailure current_read_failure();

// ---- uploads (upload.cpp) ----

// A name safe to show and to put in a Content-Disposition header: the last path component of
// `client_name` reduced to [A-Za-z0-9._-], at most 64 characters; "upload.nii.gz" when nothing is
// left. Only ever displayed, never used as a path.
std::string display_name(const std::string& client_name);

enum class UploadKind { kNifti, kGzipNifti };
// Looks at the bytes, not the name: gzip magic (then the first header bytes are inflated) and a
// NIfTI-1 (348) or NIfTI-2 (540) sizeof_hdr in either byte order. Throws std::invalid_argument
// "<name>: ..." otherwise.
UploadKind sniff_nifti(const std::string& bytes, const std::string& name);

// Checks and reads an uploaded volume: sniff_nifti, a private temp file (.nii or .nii.gz by
// content), io::read_nifti, removal of the temp file, then check_mappable for the checkpoint.
// Errors are read_nifti's (the CLI's) messages with the temp path replaced by `name`, thrown as
// std::invalid_argument. The returned volume's path is `name`.
io::NiftiVolume read_upload(const std::string& bytes, const std::string& name, const TempDir& tmp,
                            const workflow::Preprocess& preprocess);

// Reads a whole file into memory (throws std::runtime_error naming it).
std::string read_file_bytes(const std::string& path);

// ---- jobs (jobs.cpp) ----

enum class JobState { kQueued, kRunning, kDone, kFailed };
const char* job_state_name(JobState s);

struct JobResult {
  // The page's grid: the upload in the canonical LPS voxel order (io/orientation.h), so slice k is
  // an axial slice whatever order the file was stored in; mask_nifti_gz is in the stored order.
  int64_t nx = 0, ny = 0, nz = 0;
  double spacing_mm[3] = {1, 1, 1};
  std::vector<uint8_t> gray;          // nz * ny * nx, the CT windowed for display, 0..255
  std::vector<uint8_t> mask;          // nz * ny * nx, 0/1, i fastest (canonical order)
  std::vector<int64_t> liver_pixels;  // per axial slice
  int64_t liver_voxels = 0;
  double liver_volume_ml = 0;
  std::string mask_nifti_gz;  // the mask as a .nii.gz file in the input's voxel order and geometry
  double seconds = 0;         // inference wall time
};

// What a client may see of a job at one moment (copied under the queue's lock).
struct JobSnapshot {
  std::string id, name;
  JobState state = JobState::kQueued;
  int64_t done_slices = 0, total_slices = 0;
  int64_t position = 0;  // jobs ahead of it while queued (0: next)
  std::string error;
  uint64_t version = 0;  // bumped on every change (long polling)
  std::shared_ptr<const JobResult> result;
};

class JobQueue {
 public:
  // The queue owns the model from now on: only its worker thread calls it. `trained` is the
  // checkpoint's config, which /health describes (the net may be its folded inference copy).
  JobQueue(model::UNet net, model::UNetConfig trained, workflow::Preprocess preprocess,
           const Options& options, const TempDir& tmp);
  ~JobQueue();  // shutdown() and join the worker
  // Stops the worker (a running job fails between chunks) and wakes every long poll; idempotent.
  void shutdown();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Queues a checked volume; returns the new job's id. Throws QueueFull when max_queue jobs wait.
  struct QueueFull {};
  std::string submit(io::NiftiVolume volume, const std::string& name);
  // false when no job has this id (unknown or dropped). With wait_s > 0 blocks until the job
  // changes, finishes or wait_s passes.
  bool snapshot(const std::string& id, double wait_s, JobSnapshot* out);
  int64_t waiting() const;
  const model::UNetConfig& config() const { return config_; }
  const workflow::Preprocess& preprocess() const { return preprocess_; }
  std::string device() const { return device_; }

 private:
  struct Job;
  void worker_loop();
  void run_job(Job& job);
  void drop_old_results();  // with mu_ held

  model::UNet net_;
  const model::UNetConfig config_;
  const workflow::Preprocess preprocess_;
  const Options options_;
  const TempDir& tmp_;
  const std::string device_;
  mutable std::mutex mu_;
  std::condition_variable wake_worker_, changed_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::deque<std::shared_ptr<Job>> pending_;
  std::deque<std::string> finished_;  // ids, oldest first
  bool stop_ = false;
  std::atomic<bool> abort_{false};
  std::thread worker_;
};

// ---- HTTP (routes.cpp, page.cpp) ----

// The single page (HTML, CSS and JS in one string, no external assets).
const char* page_html();

// PNG bytes of one slice: gray ny x nx, with the mask boundary in yellow when mask != nullptr.
std::string slice_png(const uint8_t* gray, const uint8_t* mask, int64_t ny, int64_t nx);

// A small synthetic CT volume (.nii.gz bytes) whose slices fit the checkpoint, for "try it" and
// the browser test.
std::string demo_volume_bytes(const workflow::Preprocess& preprocess, const TempDir& tmp);

// Registers every route on `server`.
void add_routes(httplib::Server& server, JobQueue& queue, const Options& options,
                const TempDir& tmp);

}  // namespace unet::apps::serve
