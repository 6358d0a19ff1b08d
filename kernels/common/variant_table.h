// The numbered CUDA variants of an op as one table, so naming, checking, parsing and the default
// choice are written once for every op instead of a switch per op.
//
// Each kernels/<op>/<op>.h declares its variant enum and, next to it, a table:
//
//   inline constexpr VariantInfo kConcatVariantRows[] = {
//       {1, "v1_naive", false}, {2, "v2_vectorized", false}};
//   inline constexpr VariantTable kConcatVariants{"concat", kConcatVariantRows, 2, 2};
//
// Adding a variant means one enum value and one row; the engine, the tests and the benchmarks all
// iterate the table.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace unet::kernels {

struct VariantInfo {
  int id;            // the number in the name: v<id>_..., also the enum value
  const char* name;  // "v2_tiled": what tests, benchmarks and error messages print
  bool tf32;         // rounds inputs to TF32 (about 1e-3 relative error; tests loosen tolerances)
};

class VariantTable {
 public:
  // `default_fp32` / `default_tf32`: the variant the engine runs in each math mode when none is
  // forced; by measurement, the fastest one that passes its tests (docs/PERFORMANCE.md).
  template <size_t N>
  constexpr VariantTable(const char* op, const VariantInfo (&rows)[N], int default_fp32,
                         int default_tf32)
      : op_(op),
        rows_(rows),
        size_(static_cast<int>(N)),
        default_fp32_(default_fp32),
        default_tf32_(default_tf32) {}

  const char* op() const { return op_; }
  int size() const { return size_; }
  const VariantInfo* begin() const { return rows_; }
  const VariantInfo* end() const { return rows_ + size_; }
  int default_id(bool tf32_allowed) const { return tf32_allowed ? default_tf32_ : default_fp32_; }

  // The row of variant `id`, or nullptr.
  const VariantInfo* find(int id) const {
    for (const VariantInfo& row : *this) {
      if (row.id == id) return &row;
    }
    return nullptr;
  }
  // The row of variant `id`; throws std::invalid_argument naming `caller` and the known variants.
  const VariantInfo& at(int id, const char* caller) const {
    if (const VariantInfo* row = find(id)) return *row;
    throw std::invalid_argument(std::string(caller) + ": unknown variant " + std::to_string(id) +
                                " of " + op_ + " (known: " + known() + ")");
  }
  template <typename Enum, typename = std::enable_if_t<std::is_enum_v<Enum>>>
  const VariantInfo& at(Enum v, const char* caller) const {
    return at(static_cast<int>(v), caller);
  }
  template <typename Enum>
  const char* name(Enum v) const {
    return at(v, op_).name;
  }
  template <typename Enum>
  bool is_tf32(Enum v) const {
    return at(v, op_).tf32;
  }

  // "2", "v2" or "v2_tiled" -> 2; throws std::invalid_argument listing the known variants.
  int parse(const std::string& text) const {
    for (const VariantInfo& row : *this) {
      const std::string id = std::to_string(row.id);
      if (text == row.name || text == id || text == "v" + id) return row.id;
    }
    throw std::invalid_argument("unknown " + std::string(op_) + " variant '" + text +
                                "' (known: " + known() + ")");
  }

  std::vector<int> ids() const {
    std::vector<int> out;
    for (const VariantInfo& row : *this) out.push_back(row.id);
    return out;
  }

  // "1 v1_naive, 2 v2_tiled, 3 v3_tf32"
  std::string known() const {
    std::string out;
    for (const VariantInfo& row : *this) {
      if (!out.empty()) out += ", ";
      out += std::to_string(row.id) + " " + row.name;
    }
    return out;
  }

 private:
  const char* op_;
  const VariantInfo* rows_;
  int size_;
  int default_fp32_;
  int default_tf32_;
};

}  // namespace unet::kernels
