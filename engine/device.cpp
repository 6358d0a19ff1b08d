#include "engine/device.h"

#include <stdexcept>

namespace unet {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "auto") return cuda_available() ? Device::cuda(0) : Device::cpu();
  if (text == "cuda" || text == "gpu") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string rest = text.substr(5);
    if (!rest.empty() && rest.find_first_not_of("0123456789") == std::string::npos) {
      return Device::cuda(std::stoi(rest));
    }
  }
  throw std::invalid_argument("unknown device '" + text + "'; use cpu, cuda, cuda:N or auto");
}

}  // namespace unet
