// unet_prepare: raw NIfTI volumes -> 2-D axial slice caches for training and prediction.
//   unet_prepare --raw DIR/raw --out DIR/cache [--size 256] [--resample stride|bilinear]
//                [--window -100,400 | --no-window] [--keep-empty-train]
// The pipeline itself is io::prepare_dataset (io/prepare.h); docs/PREPARE.md has the cache format.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>

#include "io/prepare.h"

namespace {

unet::io::HuWindow parse_window(const std::string& s) {
  const size_t comma = s.find(',');
  size_t end_lo = 0, end_hi = 0;
  unet::io::HuWindow w;
  try {
    if (comma == std::string::npos) throw std::invalid_argument("no comma");
    w.lo = std::stof(s.substr(0, comma), &end_lo);
    w.hi = std::stof(s.substr(comma + 1), &end_hi);
    if (end_lo != comma || end_hi != s.size() - comma - 1) throw std::invalid_argument("junk");
  } catch (const std::exception&) {
    throw std::invalid_argument("--window '" + s + "' is not LO,HI in HU (e.g. --window=-100,400)");
  }
  if (!(w.hi > w.lo)) {
    throw std::invalid_argument("--window '" + s + "' needs LO < HI (e.g. --window=-100,400)");
  }
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Turn raw/{train,test} NIfTI image+mask pairs into 2-D axial slice caches"};
  std::string raw, out, resample = "stride", window = "-100,400";
  int size = 256;
  bool no_window = false, keep_empty = false;
  app.add_option("--raw", raw, "folder with train/ and test/ (NIfTI pairs)")->required();
  app.add_option("--out", out, "cache folder to write (gets train/ and test/)")->required();
  app.add_option("--size", size, "output slice size (square)")->capture_default_str();
  app.add_option("--resample", resample, "stride (seed: every 2nd pixel) or bilinear")
      ->capture_default_str();
  auto* win =
      app.add_option("--window", window, "HU window LO,HI mapped to [0,1]")->capture_default_str();
  app.add_flag("--no-window", no_window, "keep raw HU (no windowing)")->excludes(win);
  app.add_flag("--keep-empty-train", keep_empty, "keep training slices without liver too");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    unet::io::PrepareOptions opt;
    opt.raw_dir = raw;
    opt.out_dir = out;
    if (size <= 0)
      throw std::invalid_argument("--size must be positive (got " + std::to_string(size) + ")");
    opt.slice.height = opt.slice.width = size;
    opt.slice.resample = unet::io::parse_resample(resample);
    if (no_window) {
      opt.slice.window.enabled = false;
    } else {
      opt.slice.window = parse_window(window);
    }
    opt.keep_empty_train = keep_empty;
    unet::io::prepare_dataset(opt, &std::cout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unet_prepare: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
