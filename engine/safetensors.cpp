#include "engine/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace unet {

namespace {

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "F32";
    case DType::kUInt8:
      return "U8";
    case DType::kInt16:
      return "I16";
    case DType::kInt32:
      return "I32";
    case DType::kInt64:
      return "I64";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "F32")
    *out = DType::kFloat32;
  else if (s == "U8")
    *out = DType::kUInt8;
  else if (s == "I16")
    *out = DType::kInt16;
  else if (s == "I32")
    *out = DType::kInt32;
  else if (s == "I64")
    *out = DType::kInt64;
  else
    return false;
  return true;
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw std::runtime_error(source + ": " + what);
}

}  // namespace

const Tensor& SafetensorsContents::get(const std::string& name) const {
  for (const NamedTensor& t : tensors) {
    if (t.name == name) return t.tensor;
  }
  fail(source, "no tensor named '" + name + "'; the file does not match this model");
}

bool SafetensorsContents::has(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const NamedTensor& t) { return t.name == name; });
}

std::string encode_safetensors(const std::vector<NamedTensor>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  size_t offset = 0;
  for (const NamedTensor& nt : tensors) {
    if (nt.name.empty() || nt.name == "__metadata__" || !seen.insert(nt.name).second) {
      throw std::invalid_argument("encode_safetensors: tensor name '" + nt.name +
                                  "' is empty, reserved or repeated");
    }
    const size_t bytes = nt.tensor.nbytes();
    header[nt.name] = {{"dtype", safetensors_dtype(nt.tensor.dtype())},
                       {"shape", nt.tensor.shape()},
                       {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);  // little-endian
  out += json;
  out.reserve(out.size() + offset);
  for (const NamedTensor& nt : tensors) {
    Tensor host = nt.tensor.to(Device::cpu());
    out.append(static_cast<const char*>(host.raw_data()), host.nbytes());
  }
  return out;
}

SafetensorsContents decode_safetensors(const std::string& bytes, const std::string& source) {
  SafetensorsContents result;
  result.source = source;
  if (bytes.size() < 8)
    fail(source,
         "file is " + std::to_string(bytes.size()) +
             " bytes, too short for a safetensors header; it is truncated or not a checkpoint");
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i)
    header_len |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (header_len > bytes.size() - 8 || header_len > (100u << 20)) {
    fail(source, "header length " + std::to_string(header_len) + " exceeds the file size " +
                     std::to_string(bytes.size()) +
                     "; the file is truncated or not a safetensors checkpoint");
  }
  nlohmann::json header;
  try {
    header =
        nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(header_len));
  } catch (const std::exception& e) {
    fail(source, std::string("header is not valid JSON (") + e.what() + "); the file is corrupt");
  }
  if (!header.is_object()) fail(source, "header is not a JSON object; the file is corrupt");
  const size_t data_begin = 8 + header_len;
  const size_t data_size = bytes.size() - data_begin;
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    size_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) fail(source, "__metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) fail(source, "metadata '" + m.key() + "' is not a string");
        result.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const auto& v = it.value();
    Entry e;
    e.name = it.key();
    // encode_safetensors refuses empty names too: what we read we must be able to write back.
    if (e.name.empty()) fail(source, "a tensor has an empty name; the file is corrupt");
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets") || !v["dtype"].is_string() || !v["shape"].is_array() ||
        !v["data_offsets"].is_array() || v["data_offsets"].size() != 2) {
      fail(source, "entry '" + e.name + "' lacks dtype, shape or data_offsets");
    }
    if (!parse_dtype(v["dtype"].get<std::string>(), &e.dtype)) {
      fail(source, "tensor '" + e.name + "' has unsupported dtype " +
                       v["dtype"].get<std::string>() + "; supported: F32, U8, I16, I32, I64");
    }
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        fail(source, "tensor '" + e.name + "' has a bad shape");
      e.shape.push_back(d.get<int64_t>());
    }
    // Multiplied out with overflow checks before shape_numel or Tensor::empty see the shape: a
    // product that wraps could match a short byte range and give a tensor that claims far more
    // elements than its storage holds.
    int64_t numel = 1;
    size_t nbytes = 0;
    bool overflow = false;
    for (int64_t d : e.shape) overflow = overflow || __builtin_mul_overflow(numel, d, &numel);
    overflow = overflow ||
               __builtin_mul_overflow(static_cast<size_t>(numel), dtype_size(e.dtype), &nbytes);
    if (overflow) {
      fail(source, "tensor '" + e.name + "' shape " + shape_str(e.shape) +
                       " has more bytes than fit in 64 bits; the file is corrupt");
    }
    const auto& off = v["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      fail(source, "tensor '" + e.name + "' has bad data_offsets");
    }
    e.begin = off[0].get<size_t>();
    e.end = off[1].get<size_t>();
    if (e.end < e.begin || e.end > data_size) {
      fail(source, "tensor '" + e.name + "' data [" + std::to_string(e.begin) + ", " +
                       std::to_string(e.end) + ") lies outside the " + std::to_string(data_size) +
                       " data bytes; the file is truncated");
    }
    if (nbytes != e.end - e.begin) {
      fail(source, "tensor '" + e.name + "' shape " + shape_str(e.shape) + " does not match its " +
                       std::to_string(e.end - e.begin) + " data bytes");
    }
    entries.push_back(e);
  }
  // Ranges must tile the data exactly: no gaps, no overlaps (the format's rule).
  std::vector<Entry> sorted = entries;
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  size_t expected = 0;
  for (const Entry& e : sorted) {
    if (e.begin != expected)
      fail(source, "tensor data ranges overlap or leave gaps at byte " + std::to_string(e.begin));
    expected = e.end;
  }
  if (expected != data_size) {
    fail(source, "file has " + std::to_string(data_size - expected) + " unexpected trailing bytes");
  }
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype, Device::cpu());
    if (e.end > e.begin)
      std::memcpy(t.raw_data(), bytes.data() + data_begin + e.begin, e.end - e.begin);
    result.tensors.push_back({e.name, t});
  }
  return result;
}

}  // namespace unet
