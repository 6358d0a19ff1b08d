#include "tests/testing/backend.h"

namespace unet::testing {

std::vector<KernelBackend> backends_with_variants(const kernels::VariantTable& table) {
  std::vector<KernelBackend> out = {KernelBackend{false, 0, false, "cpu"}};
  for (const kernels::VariantInfo& row : table) {
    out.push_back(KernelBackend{true, row.id, row.tf32, std::string("cuda_") + row.name});
  }
  return out;
}

std::vector<KernelBackend> cpu_and_cuda() {
  return {KernelBackend{false, 0, false, "cpu"}, KernelBackend{true, 0, false, "cuda"}};
}

std::string backend_test_name(const ::testing::TestParamInfo<KernelBackend>& info) {
  return info.param.name;
}

}  // namespace unet::testing
