// safetensors (the Hugging Face checkpoint format) encoding and decoding: an 8-byte little-endian
// header length, a JSON header {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {string: string}}, then the raw little-endian tensor bytes. The engine turns
// tensors into bytes and back; writing the bytes to disk atomically is io/'s job.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace unet {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

struct SafetensorsContents {
  std::vector<NamedTensor> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
  // Throws "<source>: no tensor named '<name>'" when absent.
  const Tensor& get(const std::string& name) const;
  bool has(const std::string& name) const;
  std::string source;  // file name, for messages
};

// Tensors may live on any device (copied to the host). Names must be unique and non-empty.
std::string encode_safetensors(const std::vector<NamedTensor>& tensors,
                               const std::map<std::string, std::string>& metadata = {});
// Validates everything before trusting it: header length within the buffer, JSON well formed,
// known dtype, shape product times element size equal to the offset range, ranges inside the data
// and contiguous (no gaps or overlaps). Errors: "<source>: <what>; <what to do>".
SafetensorsContents decode_safetensors(const std::string& bytes, const std::string& source);

}  // namespace unet
