// unet_train end to end on a small synthetic slice cache of disks: it learns (Dice threshold),
// resumes bitwise identically, stops on a non-finite loss keeping the last good checkpoint, and
// the command line rejects bad input with one clear line.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "io/slice_cache.h"
#include "workflow/checkpoint.h"
#include "workflow/trainer.h"

namespace unet {
namespace {

namespace fs = std::filesystem;

// A cache of `volumes` x `slices` images of size x size: a bright disk of random centre and
// radius on a noisy background with a dimmer decoy disk, so a threshold alone does not solve it.
void write_disk_cache(const fs::path& dir, const std::string& split, int volumes, int slices,
                      int size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.15);
  io::SliceCacheManifest m;
  m.split = split;
  m.options.height = m.options.width = size;
  m.keep_empty = true;
  std::vector<float> images;
  std::vector<uint8_t> masks;
  for (int v = 0; v < volumes; ++v) {
    io::CacheVolume vol;
    vol.name = "disk_" + std::to_string(v);
    vol.image_path = vol.name + ".nii.gz";
    vol.mask_path = vol.name + "_mask.nii.gz";
    vol.nx = vol.ny = size;
    vol.nz = slices;
    for (int k = 0; k < slices; ++k) {
      vol.slices.push_back(k);
      const double cy = size * (0.3 + 0.4 * u(rng)), cx = size * (0.3 + 0.4 * u(rng));
      const double r = size * (0.12 + 0.12 * u(rng));
      const double dy = size - cy, dx = size - cx, dr = r * 0.6;  // decoy, mirrored position
      for (int i = 0; i < size; ++i)
        for (int j = 0; j < size; ++j) {
          const bool in = (i - cy) * (i - cy) + (j - cx) * (j - cx) < r * r;
          const bool decoy = (i - dy) * (i - dy) + (j - dx) * (j - dx) < dr * dr;
          images.push_back(static_cast<float>((in ? 1.0 : decoy ? 0.6 : 0.0) + noise(rng)));
          masks.push_back(in ? 1 : 0);
        }
    }
    vol.liver_slices = slices;
    m.volumes.push_back(vol);
  }
  io::index_volumes(m);
  io::write_slice_cache(dir.string(), m, images, masks);
}

class UnetTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("unet_train_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    write_disk_cache(dir_ / "cache" / "train", "train", 8, 16, 32, 1);
    write_disk_cache(dir_ / "cache" / "test", "test", 2, 12, 32, 2);
  }
  void TearDown() override { fs::remove_all(dir_); }

  workflow::TrainOptions options(const std::string& out) const {
    workflow::TrainOptions o;
    workflow::apply_recipe("default", o);
    o.cache_dir = (dir_ / "cache").string();
    o.out_dir = (dir_ / out).string();
    o.config.depth = 3;
    o.config.base = 8;
    o.batch = 8;
    o.epochs = 12;  // ~13 steps per epoch: about 160 steps in all
    o.lr = 3e-3f;
    return o;
  }

  fs::path dir_;
};

TEST_F(UnetTrain, LearnsDisksAndWritesItsOutputs) {
  std::ostringstream log;
  const workflow::TrainResult r = workflow::train(options("run"), log);
  ASSERT_EQ(r.history.size(), 12u);
  const double best_val =
      std::max_element(r.history.begin(), r.history.end(), [](auto& a, auto& b) {
        return a.val_dice < b.val_dice;
      })->val_dice;
  EXPECT_GT(best_val, 0.9) << log.str();
  EXPECT_GT(r.test_dice, 0.85) << log.str();
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
  for (const char* f : {"best.safetensors", "last.safetensors", "metrics.csv", "dice_curve.png",
                        "dice_curve.svg"}) {
    EXPECT_TRUE(fs::exists(dir_ / "run" / f)) << f;
  }
  std::ifstream csv(dir_ / "run" / "metrics.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "epoch,train_loss,train_dice,val_loss,val_dice,lr,seconds");
  // best.safetensors is a model file (no optimizer state) that loads into the same configuration.
  const workflow::CheckpointContents best =
      workflow::read_checkpoint((dir_ / "run" / "best.safetensors").string());
  EXPECT_FALSE(best.file.has("optim.m.head.weight"));
  EXPECT_EQ(best.config.depth, 3);
  EXPECT_NO_THROW(workflow::load_model(best));
  EXPECT_NO_THROW(best.preprocess());
}

TEST_F(UnetTrain, ResumeContinuesBitwiseIdentically) {
  std::ostringstream log;
  workflow::TrainOptions straight = options("straight");
  straight.epochs = 2;
  workflow::train(straight, log);

  workflow::TrainOptions first = options("resumed");
  first.epochs = 2;
  first.stop_after_epoch = 1;
  workflow::train(first, log);
  workflow::TrainOptions second = first;
  second.stop_after_epoch = 0;
  second.resume = (dir_ / "resumed" / "last.safetensors").string();
  workflow::train(second, log);

  const workflow::CheckpointContents a =
      workflow::read_checkpoint((dir_ / "straight" / "last.safetensors").string());
  const workflow::CheckpointContents b =
      workflow::read_checkpoint((dir_ / "resumed" / "last.safetensors").string());
  ASSERT_EQ(a.file.tensors.size(), b.file.tensors.size());
  for (size_t i = 0; i < a.file.tensors.size(); ++i) {
    const Tensor& ta = a.file.tensors[i].tensor;
    const Tensor& tb = b.file.get(a.file.tensors[i].name);
    ASSERT_EQ(ta.nbytes(), tb.nbytes());
    EXPECT_EQ(std::memcmp(ta.raw_data(), tb.raw_data(), ta.nbytes()), 0) << a.file.tensors[i].name;
  }
  EXPECT_EQ(a.metadata.at("optim_step"), b.metadata.at("optim_step"));
}

TEST_F(UnetTrain, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  std::ostringstream log;
  workflow::TrainOptions first = options("run");
  first.epochs = 3;
  first.stop_after_epoch = 1;
  workflow::train(first, log);
  const fs::path last = dir_ / "run" / "last.safetensors";
  std::ifstream in(last, std::ios::binary);
  const std::string before((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  workflow::TrainOptions blow_up = first;
  blow_up.stop_after_epoch = 0;
  blow_up.resume = last.string();
  blow_up.lr = 1e30f;  // the first update sends weights to ~1e30: the next loss overflows
  blow_up.schedule = workflow::Schedule::kConstant;
  try {
    workflow::train(blow_up, log);
    FAIL() << "expected a non-finite loss error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("non-finite loss"), std::string::npos) << msg;
    EXPECT_NE(msg.find("holds the last good epoch"), std::string::npos) << msg;
  }
  std::ifstream again(last, std::ios::binary);
  const std::string after((std::istreambuf_iterator<char>(again)),
                          std::istreambuf_iterator<char>());
  EXPECT_TRUE(before == after) << "last.safetensors must still hold epoch 1";
}

TEST_F(UnetTrain, RejectsBadOptionsAndMissingData) {
  std::ostringstream log;
  workflow::TrainOptions o = options("run");
  o.cache_dir = (dir_ / "nowhere").string();
  try {
    workflow::train(o, log);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere"), std::string::npos) << e.what();
  }
  o = options("run");
  o.epochs = 0;
  EXPECT_THROW(workflow::train(o, log), std::invalid_argument);
  o = options("run");
  o.resume = (dir_ / "cache" / "train" / "manifest.json").string();
  try {
    workflow::train(o, log);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.json"), std::string::npos) << e.what();
  }
  workflow::TrainOptions r;
  EXPECT_THROW(workflow::apply_recipe("keras", r), std::invalid_argument);
}

TEST_F(UnetTrain, ResumingFromAModelOnlyCheckpointSaysWhichFileToUse) {
  std::ostringstream log;
  workflow::TrainOptions first = options("model_only");
  first.epochs = 1;
  workflow::train(first, log);
  workflow::TrainOptions o = options("model_only_resumed");
  o.resume = (dir_ / "model_only" / "best.safetensors").string();
  try {
    workflow::train(o, log);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("best.safetensors: no training state"), std::string::npos) << what;
    EXPECT_NE(what.find("resume from the last.safetensors"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(dir_ / "model_only_resumed" / "last.safetensors"));
}

TEST(CollapseDetector, WarnsWhenThePredictionStaysEmptyOverLiverTargets) {
  workflow::CollapseDetector d(3);
  const float empty[4] = {-1, -2, -3, -4}, some[4] = {-1, 2, -3, -4};
  const float liver[4] = {0, 1, 1, 0}, none[4] = {0, 0, 0, 0};
  EXPECT_FALSE(d.update(empty, liver, 4));
  EXPECT_FALSE(d.update(empty, liver, 4));
  EXPECT_TRUE(d.update(empty, liver, 4)) << "third empty step in a row";
  EXPECT_FALSE(d.update(empty, liver, 4)) << "warns once per streak";
  EXPECT_FALSE(d.update(some, liver, 4));  // a prediction resets the count
  EXPECT_FALSE(d.update(empty, liver, 4));
  EXPECT_FALSE(d.update(empty, none, 4));  // no liver in the batch: not a collapse, resets
  EXPECT_FALSE(d.update(empty, liver, 4));
  EXPECT_FALSE(d.update(empty, liver, 4));
  EXPECT_TRUE(d.update(empty, liver, 4));
}

// The binary: one line on stderr and a non-zero exit for bad input.
int run(const std::string& args, std::string* err) {
  const std::string err_file =
      (fs::temp_directory_path() / ("unet_train_err_" + std::to_string(::getpid()))).string();
  const int status = std::system(
      (std::string(UNET_BINARY_DIR) + "/unet_train " + args + " 2> " + err_file + " > /dev/null")
          .c_str());
  std::ifstream in(err_file);
  err->assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(err_file);
  return WEXITSTATUS(status);
}

TEST_F(UnetTrain, CommandLineErrorsAreOneClearLine) {
  std::string err;
  EXPECT_NE(run("--out " + (dir_ / "x").string(), &err), 0);
  EXPECT_NE(err.find("--cache is required"), std::string::npos) << err;
  EXPECT_EQ(run("--cache " + (dir_ / "missing").string() + " --out " + (dir_ / "x").string(), &err),
            1);
  EXPECT_EQ(err.rfind("unet_train: error: ", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(run("--cache a --out b --recipe keras", &err), 0);
  EXPECT_NE(err.find("keras"), std::string::npos) << err;
  EXPECT_EQ(run("--cache " + (dir_ / "cache").string() + " --out " + (dir_ / "x").string() +
                    " --device tpu",
                &err),
            1);
  EXPECT_NE(err.find("unknown device 'tpu'"), std::string::npos) << err;
}

}  // namespace
}  // namespace unet
