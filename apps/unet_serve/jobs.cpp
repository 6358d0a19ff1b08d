// The inference queue: HTTP threads only check uploads and enqueue them; one worker thread owns the
// model and runs one job at a time, so two requests never share a forward pass or a result. A job
// is segmented in chunks of `batch` slices through predict_volume (each axial slice is independent
// for this 2-D network, so chunking changes nothing but lets clients watch progress); the optional
// largest 3-D component is taken over the whole mask afterwards, exactly as unet_predict does.
//
// Memory per kept result: 2 bytes per voxel (display gray + mask) plus the compressed mask file,
// e.g. about 105 MB for a 512x512x200 volume; --keep-results bounds the total.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "apps/unet_serve/serve_app.h"
#include "io/metrics3d.h"
#include "io/orientation.h"
#include "io/png.h"
#include "io/slicing.h"

namespace unet::apps::serve {
namespace {
constexpr int kNiftiUint8 = 2;  // NIFTI_TYPE_UINT8
}  // namespace

struct JobQueue::Job {
  std::string id, name;
  io::NiftiVolume volume;  // moved out by the worker when the job starts
  JobState state = JobState::kQueued;
  int64_t done_slices = 0, total_slices = 0;
  std::string error;
  uint64_t version = 0;
  std::shared_ptr<const JobResult> result;
};

const char* job_state_name(JobState s) {
  switch (s) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kFailed:
      return "failed";
  }
  return "unknown";
}

JobQueue::JobQueue(model::UNet net, model::UNetConfig trained, workflow::Preprocess preprocess,
                   const Options& options, const TempDir& tmp)
    : net_(std::move(net)),
      config_(std::move(trained)),
      preprocess_(std::move(preprocess)),
      options_(options),
      tmp_(tmp),
      device_(net_.device().str()) {
  worker_ = std::thread([this] { worker_loop(); });
}

JobQueue::~JobQueue() {
  shutdown();
  worker_.join();
}

void JobQueue::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  abort_ = true;
  wake_worker_.notify_all();
  changed_.notify_all();
}

std::string JobQueue::submit(io::NiftiVolume volume, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int>(pending_.size()) >= options_.max_queue) throw QueueFull{};
  // 128 random bits: ids are unguessable, so one client cannot read another's result by counting.
  std::random_device rd;
  std::string id;
  do {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
    id = buf;
  } while (jobs_.count(id));
  auto job = std::make_shared<Job>();
  job->id = id;
  job->name = name;
  // Axial slices in the canonical order (run_job segments those); read_upload already checked
  // that the orientation is valid.
  const io::NiftiGeometry& g = volume.geometry;
  const int64_t dims[3] = {g.nx, g.ny, g.nz};
  job->total_slices = dims[io::map_to_canonical(g, name).source[2]];
  job->volume = std::move(volume);
  jobs_[id] = job;
  pending_.push_back(job);
  wake_worker_.notify_one();
  return id;
}

bool JobQueue::snapshot(const std::string& id, double wait_s, JobSnapshot* out) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  const std::shared_ptr<Job> job = it->second;  // stays valid even if dropped while we wait
  const bool final = job->state == JobState::kDone || job->state == JobState::kFailed;
  if (wait_s > 0 && !final) {
    const uint64_t seen = job->version;
    changed_.wait_for(lock, std::chrono::duration<double>(wait_s),
                      [&] { return stop_ || job->version != seen; });
  }
  out->id = job->id;
  out->name = job->name;
  out->state = job->state;
  out->done_slices = job->done_slices;
  out->total_slices = job->total_slices;
  out->error = job->error;
  out->version = job->version;
  out->result = job->result;
  out->position = 0;
  if (job->state == JobState::kQueued) {
    out->position = std::find(pending_.begin(), pending_.end(), job) - pending_.begin();
  }
  return true;
}

int64_t JobQueue::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(pending_.size());
}

void JobQueue::worker_loop() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_worker_.wait(lock, [&] { return stop_ || !pending_.empty(); });
      if (stop_) return;
      job = pending_.front();
      pending_.pop_front();
      job->state = JobState::kRunning;
      ++job->version;
    }
    changed_.notify_all();
    run_job(*job);
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_.push_back(job->id);
      drop_old_results();
    }
    changed_.notify_all();
    // The job's volume, activations and the upload it came from are freed by now, across several
    // threads' malloc arenas; glibc keeps such pages resident, and a soak measured the server's
    // RSS creeping up by about 1 kB per upload with a flat heap (heaptrack). Hand them back.
    malloc_trim(0);
  }
}

void JobQueue::drop_old_results() {
  while (static_cast<int>(finished_.size()) > options_.keep_results) {
    jobs_.erase(finished_.front());
    finished_.pop_front();
  }
}

void JobQueue::run_job(Job& job) {
  // Only this thread touches job.volume after submit, so it is read without the lock.
  const auto t0 = std::chrono::steady_clock::now();
  try {
    // The page browses axial slices and the network segments them: both work in the canonical
    // voxel order (io/orientation.h). Only the downloadable mask goes back to the stored order.
    const io::NiftiGeometry stored = job.volume.geometry;
    const io::CanonicalVolume canonical = io::to_canonical(std::move(job.volume));
    const io::NiftiVolume& volume = canonical.volume;
    const io::NiftiGeometry& g = volume.geometry;
    auto r = std::make_shared<JobResult>();
    r->nx = g.nx;
    r->ny = g.ny;
    r->nz = g.nz;
    workflow::spacing_mm(g, r->spacing_mm);
    const int64_t px = g.nx * g.ny;
    r->mask.resize(static_cast<size_t>(px * g.nz));
    workflow::PredictOptions po;
    po.threshold = options_.threshold;
    po.batch = options_.batch;
    for (int64_t k0 = 0; k0 < g.nz; k0 += options_.batch) {
      if (abort_) throw std::runtime_error("the server is shutting down; submit the volume again");
      const int64_t b = std::min<int64_t>(options_.batch, g.nz - k0);
      io::NiftiVolume part;
      part.geometry = g;
      part.geometry.nz = b;
      part.path = job.name;
      part.voxels.assign(volume.voxels.begin() + k0 * px, volume.voxels.begin() + (k0 + b) * px);
      const workflow::VolumePrediction p = workflow::predict_volume(net_, preprocess_, part, po);
      std::copy(p.mask.begin(), p.mask.end(), r->mask.begin() + k0 * px);
      {
        std::lock_guard<std::mutex> lock(mu_);
        job.done_slices = k0 + b;
        ++job.version;
      }
      changed_.notify_all();
    }
    if (options_.largest_component) {
      io::keep_largest_component(r->mask.data(), g.nx, g.ny, g.nz);
    }
    r->liver_pixels.assign(static_cast<size_t>(g.nz), 0);
    for (int64_t k = 0; k < g.nz; ++k) {
      const uint8_t* m = r->mask.data() + k * px;
      r->liver_pixels[k] = std::count(m, m + px, uint8_t{1});
      r->liver_voxels += r->liver_pixels[k];
    }
    r->liver_volume_ml = workflow::mask_volume_ml(r->mask, g);

    // The CT as the page shows it: the checkpoint's window (or the liver window), 8 bits.
    const io::HuWindow window = workflow::display_window(preprocess_);
    r->gray.resize(r->mask.size());
    std::vector<float> slice(static_cast<size_t>(px));
    for (int64_t k = 0; k < g.nz; ++k) {
      std::copy(volume.voxels.begin() + k * px, volume.voxels.begin() + (k + 1) * px,
                slice.begin());
      io::apply_window(slice.data(), slice.size(), window);
      const std::vector<uint8_t> u8 = io::to_gray_u8(slice.data(), slice.size(), 0.0f, 1.0f);
      std::copy(u8.begin(), u8.end(), r->gray.begin() + k * px);
    }

    // The mask file with the input's geometry and voxel order, as unet_predict writes it; kept in
    // memory so no file outlives the request.
    {
      TempFile file(tmp_, "mask-", ".nii.gz");
      const std::vector<float> mask(r->mask.begin(), r->mask.end());
      io::write_nifti(file.path(), stored,
                      io::remap_voxels(mask, g.nx, g.ny, g.nz, canonical.to_canonical.inverse()),
                      kNiftiUint8);
      r->mask_nifti_gz = read_file_bytes(file.path());
    }
    r->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(mu_);
    job.result = std::move(r);
    job.state = JobState::kDone;
    ++job.version;
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mu_);
    job.error = e.what();
    job.state = JobState::kFailed;
    ++job.version;
  }
}

}  // namespace unet::apps::serve
