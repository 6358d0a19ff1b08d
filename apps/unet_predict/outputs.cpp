// Output helpers shared by both modes: argument checks, folders, the metrics (io/metrics3d.h) as a
// table/CSV/JSON and the NIfTI geometry of a cache volume. Files go through io's atomic writers
// (never half-written).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "apps/unet_predict/predict_app.h"
#include "io/atomic_file.h"

namespace unet::apps::predict {
namespace {

// Undefined metrics (e.g. RVD of an empty reference) are NaN in memory, "" in the CSV and null in
// the JSON, which has no NaN.
std::string csv_value(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
nlohmann::json json_value(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}
std::string table_value(double v) {
  if (!std::isfinite(v)) return "     n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%8.4f", v);
  return buf;
}

struct Column {
  const char* name;
  double (*value)(const CaseMetrics&);
};
const Column kColumns[] = {
    {"dice", [](const CaseMetrics& r) { return r.volume.dice; }},
    {"voe", [](const CaseMetrics& r) { return r.volume.voe; }},
    {"rvd", [](const CaseMetrics& r) { return r.volume.rvd; }},
    {"asd_mm", [](const CaseMetrics& r) { return r.volume.asd; }},
    {"msd_mm", [](const CaseMetrics& r) { return r.volume.msd; }},
    {"pred_ml", [](const CaseMetrics& r) { return double(r.volume.pred_voxels) * r.voxel_ml; }},
    {"ref_ml", [](const CaseMetrics& r) { return double(r.volume.truth_voxels) * r.voxel_ml; }}};

}  // namespace

PngMode parse_png_mode(const std::string& text) {
  if (text == "all") return PngMode::kAll;
  if (text == "liver") return PngMode::kLiver;
  if (text == "none") return PngMode::kNone;
  throw std::invalid_argument("--png '" + text + "' is not one of all, liver, none");
}

void validate_args(const Args& a) {
  if (a.checkpoint.empty()) {
    throw std::invalid_argument("--checkpoint FILE is required (a .safetensors from unet_train)");
  }
  if (a.out.empty()) {
    throw std::invalid_argument("--out DIR is required (where masks, overlays and metrics go)");
  }
  if (a.cache.empty() == a.volume.empty()) {
    throw std::invalid_argument(
        "pass exactly one of --cache DIR (a unet_prepare slice cache) or --volume CT.nii.gz");
  }
  if (!a.reference.empty() && a.volume.empty()) {
    throw std::invalid_argument(
        "--reference goes with --volume (a cache carries its own reference masks)");
  }
  if (a.batch < 1) {
    throw std::invalid_argument("--batch " + std::to_string(a.batch) + " must be at least 1");
  }
  if (!(a.threshold > 0.0f && a.threshold < 1.0f)) {
    throw std::invalid_argument("--threshold " + std::to_string(a.threshold) +
                                " must be in (0, 1), e.g. 0.5");
  }
  if (a.max_png < 0) {
    throw std::invalid_argument("--max-png " + std::to_string(a.max_png) +
                                " must be >= 0 (0: no limit)");
  }
  if (!a.png.empty()) parse_png_mode(a.png);
}

CaseMetrics compute_metrics(const std::string& name, const std::vector<uint8_t>& pred,
                            const std::vector<uint8_t>& ref, int64_t nx, int64_t ny, int64_t nz,
                            const double spacing_mm[3]) {
  return {name, io::volume_metrics(pred.data(), ref.data(), nx, ny, nz, spacing_mm),
          spacing_mm[0] * spacing_mm[1] * spacing_mm[2] / 1000.0};
}

void write_metrics(const std::string& out_dir, const std::vector<CaseMetrics>& rows,
                   std::ostream& log, Written& written) {
  // Mean over the cases where a metric is defined (an empty reference leaves RVD undefined).
  std::vector<double> mean;
  for (const Column& c : kColumns) {
    double sum = 0;
    int n = 0;
    for (const CaseMetrics& r : rows) {
      if (std::isfinite(c.value(r))) {
        sum += c.value(r);
        ++n;
      }
    }
    mean.push_back(n > 0 ? sum / n : NAN);
  }

  char head[160];
  std::snprintf(head, sizeof head, "%-20s %8s %8s %8s %8s %8s %8s %8s\n", "case", "dice", "voe",
                "rvd", "asd_mm", "msd_mm", "pred_ml", "ref_ml");
  log << head;
  std::ostringstream csv;
  csv << "case";
  for (const Column& c : kColumns) csv << "," << c.name;
  csv << "\n";
  nlohmann::json cases = nlohmann::json::array();
  for (const CaseMetrics& r : rows) {
    char name[32];
    std::snprintf(name, sizeof name, "%-20s", r.name.c_str());
    log << name;
    csv << r.name;
    nlohmann::json j = {{"case", r.name}};
    for (const Column& c : kColumns) {
      log << " " << table_value(c.value(r));
      csv << "," << csv_value(c.value(r));
      j[c.name] = json_value(c.value(r));
    }
    log << "\n";
    csv << "\n";
    cases.push_back(j);
  }
  char name[32];
  std::snprintf(name, sizeof name, "%-20s", "mean");
  log << name;
  nlohmann::json jm = nlohmann::json::object();
  for (size_t i = 0; i < mean.size(); ++i) {
    log << " " << table_value(mean[i]);
    jm[kColumns[i].name] = json_value(mean[i]);
  }
  log << "\n";
  const nlohmann::json doc = {{"cases", cases}, {"mean", jm}, {"count", rows.size()}};
  const std::string text = csv.str(), json = doc.dump(2) + "\n";
  written.metrics_csv = out_dir + "/metrics.csv";
  written.metrics_json = out_dir + "/metrics.json";
  io::write_file_atomic(written.metrics_csv, text.data(), text.size());
  io::write_file_atomic(written.metrics_json, json.data(), json.size());
}

io::NiftiGeometry geometry_from_manifest(const io::CacheVolume& v) {
  io::Affine a{};
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) a[r][c] = v.voxel_to_world[r][c];
  }
  // Code 1 (NIFTI_XFORM_SCANNER_ANAT) and mm, as unet_synth and scanners write them.
  return io::geometry_from_affine(v.nx, v.ny, v.nz, v.spacing, a, /*xform_code=*/1,
                                  /*xyzt_units=*/2);
}

std::string case_name(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  for (const char* ext : {".nii.gz", ".nii"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      return name.substr(0, name.size() - e.size());
    }
  }
  return name;
}

std::string overlay_name(const std::string& case_name, int64_t k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "_z%03lld.png", static_cast<long long>(k));
  return case_name + buf;
}

void make_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) {
    throw std::runtime_error(dir + ": cannot create the output folder (" + ec.message() +
                             "); pass a writable --out");
  }
}

}  // namespace unet::apps::predict
