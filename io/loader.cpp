// DataLoader: see loader.h for the determinism contract. The producer thread fills slots in the
// exact order the consumer will ask for them, so prefetching never changes what a batch contains.
#include "io/loader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <random>
#include <stdexcept>
#include <string>

#include "io/slice_cache.h"

namespace unet::io {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
uint64_t mix(uint64_t a, uint64_t b) {
  return splitmix64(a ^ splitmix64(b + 0x632be59bd9b4e019ULL));
}

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * uniform01(rng);
}

// Fisher-Yates with our own index draw: std::uniform_int_distribution differs between standard
// libraries, and the order must be reproducible wherever a checkpoint is resumed.
void shuffle(std::vector<int64_t>& v, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

constexpr uint64_t kOrderTag = 0x6f72646572ULL, kAugTag = 0x617567ULL, kSplitTag = 0x73706c6974ULL;

}  // namespace

void augment_slice_to(const float* src_img, const uint8_t* src_mask, float* image, float* mask,
                      int h, int w, const AugmentOptions& o, uint64_t rng_seed) {
  std::mt19937_64 rng(rng_seed);
  // Always draw every parameter, so changing one probability does not shift the others' streams.
  const bool flip_lr = uniform01(rng) < o.flip_lr_prob;
  const bool flip_ud = uniform01(rng) < o.flip_ud_prob;
  const double theta =
      uniform(rng, -o.max_rotate_deg, o.max_rotate_deg) * (3.14159265358979323846 / 180.0);
  const double scale = uniform(rng, o.scale_min, o.scale_max);
  const float gain = static_cast<float>(1.0 + uniform(rng, -o.intensity_scale, o.intensity_scale));
  const float shift = static_cast<float>(uniform(rng, -o.intensity_shift, o.intensity_shift));

  const double cy = (h - 1) * 0.5, cx = (w - 1) * 0.5;
  const double c = std::cos(theta) / scale, s = std::sin(theta) / scale;
  // Inverse map: output pixel -> source position (rotation by -theta, zoom by 1/scale). Along a row
  // the source position moves by a constant step, so it is advanced incrementally; with a flip the
  // step's sign flips. Exact for flips alone (integer steps, fractional parts 0).
  const double du = flip_lr ? -1.0 : 1.0;
  const double step_x = c * du, step_y = -s * du;
  for (int y = 0; y < h; ++y) {
    const double v = flip_ud ? cy - y : y - cy;
    const double u0 = flip_lr ? cx : -cx;
    const double row_x = cx + c * u0 + s * v, row_y = cy - s * u0 + c * v;
    float* out_img = image + static_cast<size_t>(y) * w;
    float* out_mask = mask + static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x) {
      const double sx = row_x + step_x * x, sy = row_y + step_y * x;
      // Border pixels are replicated (clamp): valid for any normalisation of the image.
      const double fx0 = std::floor(sx), fy0 = std::floor(sy);
      const float fx = static_cast<float>(sx - fx0), fy = static_cast<float>(sy - fy0);
      const int ix = static_cast<int>(fx0), iy = static_cast<int>(fy0);
      const int x0 = std::clamp(ix, 0, w - 1), x1 = std::clamp(ix + 1, 0, w - 1);
      const int y0 = std::clamp(iy, 0, h - 1), y1 = std::clamp(iy + 1, 0, h - 1);
      const float* r0 = src_img + static_cast<size_t>(y0) * w;
      const float* r1 = src_img + static_cast<size_t>(y1) * w;
      const float top = r0[x0] + fx * (r0[x1] - r0[x0]);
      const float bot = r1[x0] + fx * (r1[x1] - r1[x0]);
      out_img[x] = (top + fy * (bot - top)) * gain + shift;
      // Nearest for the mask: the closer of the two bilinear neighbours per axis.
      const int nx = fx < 0.5f ? x0 : x1, ny = fy < 0.5f ? y0 : y1;
      out_mask[x] = src_mask[static_cast<size_t>(ny) * w + nx] ? 1.0f : 0.0f;
    }
  }
}

void augment_slice(float* image, float* mask, int h, int w, const AugmentOptions& o,
                   uint64_t rng_seed) {
  const size_t n = static_cast<size_t>(h) * w;
  const std::vector<float> src_img(image, image + n);
  std::vector<uint8_t> src_mask(n);
  for (size_t i = 0; i < n; ++i) src_mask[i] = mask[i] != 0.0f;
  augment_slice_to(src_img.data(), src_mask.data(), image, mask, h, w, o, rng_seed);
}

DataLoader::DataLoader(const SliceCache& cache, std::vector<int64_t> indices, LoaderOptions options)
    : DataLoader(cache.images.data(), cache.masks.data(), cache.num_slices(), cache.height(),
                 cache.width(), std::move(indices), std::move(options)) {}

DataLoader::DataLoader(const float* images, const uint8_t* masks, int64_t num_slices, int h, int w,
                       std::vector<int64_t> indices, LoaderOptions options)
    : images_(images),
      masks_(masks),
      num_slices_(num_slices),
      h_(h),
      w_(w),
      indices_(std::move(indices)),
      opt_(std::move(options)) {
  if (h <= 0 || w <= 0 || num_slices < 0) {
    throw std::invalid_argument("DataLoader: bad data shape [" + std::to_string(num_slices) + ", " +
                                std::to_string(h) + ", " + std::to_string(w) + "]");
  }
  if (indices_.empty()) {
    for (int64_t i = 0; i < num_slices; ++i) indices_.push_back(i);
  }
  for (int64_t i : indices_) {
    if (i < 0 || i >= num_slices) {
      throw std::invalid_argument("DataLoader: slice index " + std::to_string(i) +
                                  " out of range for " + std::to_string(num_slices) + " slices");
    }
  }
  if (opt_.batch_size <= 0) {
    throw std::invalid_argument("DataLoader: batch_size must be positive (got " +
                                std::to_string(opt_.batch_size) + ")");
  }
  if (batches_per_epoch() == 0) {
    throw std::invalid_argument("DataLoader: " + std::to_string(indices_.size()) +
                                " slices make no batch of " + std::to_string(opt_.batch_size) +
                                (opt_.drop_last ? " with drop_last; lower the batch size" : ""));
  }
  if (opt_.prefetch < 0) throw std::invalid_argument("DataLoader: prefetch must be >= 0");
  if (!opt_.alloc || !opt_.free) {
    opt_.alloc = [](size_t bytes) { return ::operator new(bytes, std::align_val_t(64)); };
    opt_.free = [](void* p) { ::operator delete(p, std::align_val_t(64)); };
  }
  const size_t bytes = sizeof(float) * static_cast<size_t>(opt_.batch_size) * h_ * w_;
  slots_.resize(opt_.prefetch == 0 ? 1 : opt_.prefetch + 1);
  for (Slot& s : slots_) {
    s.images = static_cast<float*>(opt_.alloc(bytes));
    s.masks = static_cast<float*>(opt_.alloc(bytes));
    if (!s.images || !s.masks) {
      throw std::runtime_error("DataLoader: allocator returned null for a " +
                               std::to_string(bytes) + "-byte batch buffer");
    }
  }
  start_producer();
}

DataLoader::~DataLoader() {
  stop_producer();
  for (Slot& s : slots_) {
    if (s.images) opt_.free(s.images);
    if (s.masks) opt_.free(s.masks);
  }
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = size(), b = opt_.batch_size;
  return opt_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order = indices_;
  if (opt_.shuffle) shuffle(order, mix(mix(opt_.seed, kOrderTag), static_cast<uint64_t>(epoch)));
  return order;
}

void DataLoader::fill(Slot& slot, int64_t epoch, int64_t index) const {
  if (cached_epoch_ != epoch) {
    cached_order_ = epoch_order(epoch);
    cached_epoch_ = epoch;
  }
  const std::vector<int64_t>& order = cached_order_;
  const int64_t begin = index * opt_.batch_size;
  const int64_t n = std::min<int64_t>(opt_.batch_size, size() - begin);
  slot.n = static_cast<int>(n);
  slot.epoch = epoch;
  slot.index = index;
  slot.slices.assign(order.begin() + begin, order.begin() + begin + n);
  const size_t hw = static_cast<size_t>(h_) * w_;
#pragma omp parallel for num_threads(std::max(1, opt_.num_threads)) schedule(dynamic)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = slot.slices[i];
    float* img = slot.images + i * hw;
    float* msk = slot.masks + i * hw;
    const uint8_t* m = masks_ + s * hw;
    if (opt_.augment.enabled) {
      const uint64_t key = mix(mix(mix(opt_.seed, kAugTag), static_cast<uint64_t>(epoch)),
                               static_cast<uint64_t>(begin + i));
      augment_slice_to(images_ + s * hw, m, img, msk, h_, w_, opt_.augment, key);
    } else {
      std::memcpy(img, images_ + s * hw, hw * sizeof(float));
      for (size_t p = 0; p < hw; ++p) msk[p] = m[p] ? 1.0f : 0.0f;
    }
  }
}

void DataLoader::start_producer() {
  stop_ = false;
  error_ = nullptr;
  free_.clear();
  ready_.clear();
  held_ = -1;
  produce_epoch_ = epoch_;
  produce_index_ = position_;
  if (produce_index_ == batches_per_epoch()) {  // resumed at the very end of an epoch
    produce_index_ = 0;
    ++produce_epoch_;
  }
  if (opt_.prefetch == 0) return;
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) free_.push_back(i);
  producer_ = std::thread([this] { produce(); });
}

void DataLoader::stop_producer() {
  if (!producer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  producer_.join();
}

void DataLoader::produce() {
  const int64_t bpe = batches_per_epoch();
  for (;;) {
    int slot;
    int64_t epoch, index;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !free_.empty(); });
      if (stop_) return;
      slot = free_.front();
      free_.pop_front();
      epoch = produce_epoch_;
      index = produce_index_;
      if (++produce_index_ == bpe) {
        produce_index_ = 0;
        ++produce_epoch_;
      }
    }
    try {
      fill(slots_[slot], epoch, index);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
      cv_.notify_all();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.push_back(slot);
    }
    cv_.notify_all();
  }
}

bool DataLoader::next(Batch* out) {
  if (held_ >= 0 && opt_.prefetch > 0) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(held_);
    }
    cv_.notify_all();
  }
  held_ = -1;
  if (position_ == batches_per_epoch()) {
    position_ = 0;
    ++epoch_;
    return false;
  }
  int slot = 0;
  if (opt_.prefetch == 0) {
    fill(slots_[0], epoch_, position_);
  } else {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !ready_.empty() || error_; });
    if (ready_.empty()) std::rethrow_exception(error_);
    slot = ready_.front();
    ready_.pop_front();
  }
  const Slot& s = slots_[slot];
  if (s.epoch != epoch_ || s.index != position_) {
    throw std::logic_error("DataLoader: producer out of order (internal error)");
  }
  held_ = slot;
  *out = Batch{s.n, h_, w_, s.images, s.masks, s.epoch, s.index, s.slices.data()};
  ++position_;
  return true;
}

LoaderState DataLoader::get_state() const { return {opt_.seed, epoch_, position_}; }

void DataLoader::set_state(const LoaderState& state) {
  if (state.seed != opt_.seed) {
    throw std::invalid_argument("DataLoader::set_state: saved seed " + std::to_string(state.seed) +
                                " differs from the loader's seed " + std::to_string(opt_.seed) +
                                "; resume with the same --seed");
  }
  if (state.epoch < 0 || state.position < 0 || state.position > batches_per_epoch()) {
    throw std::invalid_argument(
        "DataLoader::set_state: position " + std::to_string(state.position) + " of epoch " +
        std::to_string(state.epoch) + " is outside the " + std::to_string(batches_per_epoch()) +
        " batches per epoch; the data or batch size changed");
  }
  stop_producer();
  epoch_ = state.epoch;
  position_ = state.position;
  start_producer();
}

SplitIndices split_by_volume(const std::vector<int32_t>& volume_of_slice, double val_fraction,
                             uint64_t seed) {
  if (!(val_fraction >= 0.0 && val_fraction < 1.0)) {
    throw std::invalid_argument("split_by_volume: validation fraction " +
                                std::to_string(val_fraction) + " must be in [0, 1)");
  }
  std::vector<int64_t> ids;
  for (int32_t v : volume_of_slice) {
    if (v < 0)
      throw std::invalid_argument("split_by_volume: negative volume id " + std::to_string(v));
    ids.push_back(v);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const int64_t nvol = static_cast<int64_t>(ids.size());
  int64_t nval = std::llround(val_fraction * static_cast<double>(nvol));
  if (val_fraction > 0 && nval == 0) nval = 1;
  if (nval >= nvol && val_fraction > 0) {
    throw std::invalid_argument("split_by_volume: " + std::to_string(nvol) +
                                " volume(s) cannot be split into training and validation by volume "
                                "(fraction " +
                                std::to_string(val_fraction) +
                                "); add volumes or use a validation fraction of 0");
  }
  shuffle(ids, mix(seed, kSplitTag));
  std::vector<char> is_val(
      ids.empty() ? 0 : static_cast<size_t>(*std::max_element(ids.begin(), ids.end())) + 1, 0);
  for (int64_t i = 0; i < nval; ++i) is_val[static_cast<size_t>(ids[i])] = 1;
  SplitIndices out;
  for (size_t s = 0; s < volume_of_slice.size(); ++s) {
    (is_val[static_cast<size_t>(volume_of_slice[s])] ? out.val : out.train)
        .push_back(static_cast<int64_t>(s));
  }
  return out;
}

}  // namespace unet::io
