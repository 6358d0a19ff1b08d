// Tensor basics: creation, copies, reshape, dtype checks and their error messages.
#include "engine/tensor.h"

#include <gtest/gtest.h>

#include "engine/allocator.h"
#include "engine/device.h"
#include "tests/testing/testing.h"

namespace unet {
namespace {

TEST(Tensor, CreationAndProperties) {
  Tensor t = Tensor::zeros({2, 3, 4, 5});
  EXPECT_EQ(t.numel(), 120);
  EXPECT_EQ(t.rank(), 4);
  EXPECT_EQ(t.dim(-1), 5);
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_TRUE(t.device().is_cpu());
  for (float v : t.to_vector()) EXPECT_EQ(v, 0.0f);
  Tensor f = Tensor::full({3}, 2.5f);
  EXPECT_EQ(f.to_vector(), (std::vector<float>{2.5f, 2.5f, 2.5f}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << "CPU storage is 64-byte aligned";
}

TEST(Tensor, CopiesAreDeepAndHandlesShare) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {1, 2, 2, 1});
  Tensor handle = a;
  Tensor copy = a.clone();
  a.f32()[0] = 9;
  EXPECT_EQ(handle.f32()[0], 9.0f);
  EXPECT_EQ(copy.f32()[0], 1.0f);
  EXPECT_TRUE(handle.shares_storage(a));
  EXPECT_FALSE(copy.shares_storage(a));
}

TEST(Tensor, ReshapeSharesStorageAndChecksSize) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = a.reshape({3, 2});
  EXPECT_TRUE(b.shares_storage(a));
  EXPECT_EQ(b.shape(), (Shape{3, 2}));
  testing::expect_invalid([&] { a.reshape({4, 2}); }, "cannot view float32[2, 3] on cpu as [4, 2]");
}

TEST(Tensor, WrongDtypeAccessIsAnError) {
  Tensor m = Tensor::zeros({4}, DType::kUInt8);
  EXPECT_NO_THROW(m.data<uint8_t>());
  testing::expect_invalid([&] { m.f32(); }, "uint8[4] on cpu accessed as float32");
}

TEST(Tensor, FromVectorChecksCount) {
  EXPECT_THROW(Tensor::from_vector({1, 2, 3}, {2, 2}), std::invalid_argument);
  EXPECT_THROW(Tensor::zeros({2, -1}), std::invalid_argument);
}

TEST(Tensor, ItemNeedsOneElement) {
  EXPECT_EQ(Tensor::full({1}, 3.0f).item(), 3.0f);
  EXPECT_THROW(Tensor::zeros({2}).item(), std::invalid_argument);
}

TEST(Tensor, UndefinedTensorUseIsAnError) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.shape(), std::logic_error);
}

TEST(Allocator, CpuStatisticsTrackLiveBytes) {
  const size_t before = cpu_memory_stats().current_bytes;
  {
    Tensor t = Tensor::empty({1024});
    EXPECT_EQ(cpu_memory_stats().current_bytes, before + 4096);
    EXPECT_GE(cpu_memory_stats().peak_bytes, before + 4096);
  }
  EXPECT_EQ(cpu_memory_stats().current_bytes, before);
}

// A freed large block is kept and handed to the next request of its rounded size, without a new
// system allocation; small blocks go straight back. (Under AddressSanitizer nothing is cached.)
TEST(Allocator, CpuLargeBlocksAreCachedAndReused) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the cache is off under AddressSanitizer";
#else
  const size_t large = (size_t(3) << 20) + 4;  // rounds to 4 MiB
  void* first = cpu_allocate(large);
  const MemoryStats held = cpu_memory_stats();
  cpu_free(first, large);
  const MemoryStats freed = cpu_memory_stats();
  EXPECT_EQ(freed.current_bytes, held.current_bytes - large);
  EXPECT_GE(freed.cached_bytes, size_t(4) << 20);
  EXPECT_EQ(freed.reserved_bytes, freed.current_bytes + freed.cached_bytes);
  void* second = cpu_allocate(large - 100);  // another size with the same rounding
  EXPECT_EQ(second, first);
  EXPECT_EQ(cpu_memory_stats().system_allocs, held.system_allocs);
  EXPECT_EQ(cpu_memory_stats().cached_bytes, freed.cached_bytes - (size_t(4) << 20));
  cpu_free(second, large - 100);
  const size_t cached = cpu_memory_stats().cached_bytes;
  cpu_free(cpu_allocate(4096), 4096);
  EXPECT_EQ(cpu_memory_stats().cached_bytes, cached);
#endif
}

TEST(Device, ParsesNamesAndRejectsUnknown) {
  EXPECT_TRUE(parse_device("cpu").is_cpu());
  EXPECT_EQ(parse_device("cuda:1").index, 1);
  EXPECT_EQ(parse_device("cuda").str(), "cuda:0");
  try {
    parse_device("tpu");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown device 'tpu'; use cpu, cuda, cuda:N or auto");
  }
}

TEST(Device, AskingForAMissingGpuSaysSo) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  try {
    Tensor::zeros({4}, DType::kFloat32, Device::cuda());
    FAIL() << "expected an error without a GPU";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(msg.find("no CUDA device present") != std::string::npos ||
                msg.find("no CUDA backend") != std::string::npos)
        << msg;
  }
}

TEST(Device, ChoosingAGpuWithoutOneSaysSo) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present (unet_cuda_test covers it)";
  EXPECT_EQ(cuda_bound_device(), -1);
  try {
    use_cuda_device(Device::cuda(1), "unet_train --device cuda:1");
    FAIL() << "expected an error without a GPU";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("unet_train --device cuda:1: ", 0), 0u) << msg;
    EXPECT_TRUE(msg.find("no CUDA device present") != std::string::npos ||
                msg.find("no CUDA backend") != std::string::npos)
        << msg;
  }
  EXPECT_EQ(cuda_bound_device(), -1) << "a failed choice binds nothing";
  EXPECT_NO_THROW(use_cuda_device(Device::cpu(), "cpu is always fine"));
}

}  // namespace
}  // namespace unet
