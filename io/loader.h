// Data loader over a slice cache (or any in-memory [S, H, W] images + 0/1 masks): per-epoch seeded
// shuffling, batching, optional augmentation, and a background thread that prefetches the next
// batches into buffers from an allocator hook (pass cudaHostAlloc/cudaFreeHost for pinned memory).
//
// Determinism: the order of epoch e is a Fisher-Yates shuffle by std::mt19937_64 seeded from
// (seed, e); the augmentation of the sample at position p of epoch e uses an mt19937_64 seeded from
// (seed, e, p). So a batch depends only on (seed, epoch, batch index), not on threads or timing,
// and the whole loader state is LoaderState {seed, epoch, position}: save it with a checkpoint and
// set_state() continues with exactly the batches an uninterrupted run would have produced.
//
// Cost per slice of H*W pixels: without augmentation a copy (4 B read + 4 B written per image
// pixel, 1 B read + 4 B written per mask pixel); with augmentation one bilinear gather (4 reads)
// plus one nearest gather per pixel, about 20 flops.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace unet::io {

struct SliceCache;

struct Batch {
  int n = 0, h = 0, w = 0;  // NHWC with C = 1
  float* images = nullptr;  // n*h*w
  float* masks = nullptr;   // n*h*w, 0/1
  int64_t epoch = 0;        // which epoch and batch index this is
  int64_t index = 0;
  const int64_t* slices = nullptr;  // n slice indices (into the cache) of this batch
};

struct AugmentOptions {
  bool enabled = false;
  // Flips are off by default: in CT the liver sits on the image left and the spleen, in the same HU
  // range, on the right, so a left-right flip teaches the network that either side can be liver.
  double flip_lr_prob = 0.0;                // mirror columns
  double flip_ud_prob = 0.0;                // mirror rows
  double max_rotate_deg = 10.0;             // uniform in [-max, max]
  double scale_min = 0.9, scale_max = 1.1;  // uniform zoom about the centre
  double intensity_scale = 0.1;             // image *= 1 + U[-a, a]
  double intensity_shift = 0.1;             // image += U[-b, b] (in normalised units)
};

struct LoaderOptions {
  int batch_size = 10;
  bool shuffle = true;
  bool drop_last = false;  // drop the last partial batch of each epoch
  uint64_t seed = 0;
  AugmentOptions augment;
  int prefetch = 2;     // batches prepared ahead by the background thread; 0 = synchronous
  int num_threads = 1;  // OpenMP threads per batch inside the producer (samples in parallel)
  // Buffer allocation hook; default 64-byte aligned new/delete.
  std::function<void*(size_t)> alloc;
  std::function<void(void*)> free;
};

struct LoaderState {
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t position = 0;  // batches already returned in this epoch
};

class DataLoader {
 public:
  // images: [S, h, w] floats, masks: [S, h, w] 0/1 bytes; both must outlive the loader.
  // indices: the slices to draw from (e.g. the training part of split_by_volume); empty = all S.
  DataLoader(const float* images, const uint8_t* masks, int64_t num_slices, int h, int w,
             std::vector<int64_t> indices, LoaderOptions options);
  DataLoader(const SliceCache& cache, std::vector<int64_t> indices, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The next batch of the current epoch; false (and *out untouched) once the epoch is exhausted,
  // after which the next call starts the following epoch. The batch's buffers stay valid until the
  // next call to next() or set_state().
  bool next(Batch* out);

  int64_t batches_per_epoch() const;
  int64_t size() const { return static_cast<int64_t>(indices_.size()); }
  LoaderState get_state() const;
  // Continue from a saved state (same data, indices and options); throws std::invalid_argument if
  // the seed differs or the position is past the epoch's end.
  void set_state(const LoaderState& state);

  // The slice order of an epoch (positions into the loader's index list resolved to slice ids).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  struct Slot {
    float* images = nullptr;
    float* masks = nullptr;
    std::vector<int64_t> slices;
    int n = 0;
    int64_t epoch = 0, index = 0;
  };
  void fill(Slot& slot, int64_t epoch, int64_t index) const;
  void start_producer();
  void stop_producer();
  void produce();

  const float* images_;
  const uint8_t* masks_;
  int64_t num_slices_;
  int h_, w_;
  std::vector<int64_t> indices_;
  LoaderOptions opt_;
  std::vector<Slot> slots_;

  int64_t epoch_ = 0, position_ = 0;  // consumer side
  int held_ = -1;                     // slot handed out by the last next()

  std::thread producer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> free_, ready_;
  int64_t produce_epoch_ = 0, produce_index_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  // The order of the epoch being filled (only one thread fills at a time).
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> cached_order_;
};

// Augments one slice in place (image bilinear, mask nearest, same geometric transform); exposed
// for tests. rng_seed selects the random transform.
void augment_slice(float* image, float* mask, int h, int w, const AugmentOptions& options,
                   uint64_t rng_seed);
// The same from a source slice (image floats, 0/1 mask bytes) into separate outputs; what the
// loader uses (no copy of the source).
void augment_slice_to(const float* src_image, const uint8_t* src_mask, float* image, float* mask,
                      int h, int w, const AugmentOptions& options, uint64_t rng_seed);

struct SplitIndices {
  std::vector<int64_t> train, val;  // slice indices, ascending
};
// Splits slices by volume (never adjacent slices of one volume on both sides): a seeded shuffle of
// the volume ids, round(fraction * volumes) of them (at least 1 when fraction > 0 and there are 2+
// volumes) go to validation. Throws std::invalid_argument for fraction outside [0, 1) or when the
// training side would be empty.
SplitIndices split_by_volume(const std::vector<int32_t>& volume_of_slice, double val_fraction = 0.2,
                             uint64_t seed = 0);

}  // namespace unet::io
