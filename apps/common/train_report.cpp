#include "apps/common/train_report.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "io/atomic_file.h"
#include "io/plot.h"

namespace unet::apps {

namespace {
// JSON has no infinity: an unset best loss is stored as null.
nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}
}  // namespace

std::string train_state_to_json(const TrainState& s) {
  nlohmann::json history = nlohmann::json::array();
  for (const EpochMetrics& m : s.history) {
    history.push_back(
        {m.epoch, m.train_loss, m.train_dice, m.val_loss, m.val_dice, m.lr, m.seconds});
  }
  nlohmann::json j = {{"epoch", s.epoch},
                      {"global_step", s.global_step},
                      {"best_val_loss", finite_or_null(s.best_val_loss)},
                      {"best_epoch", s.best_epoch},
                      {"history", history}};
  return j.dump();
}

TrainState train_state_from_json(const std::string& text, const std::string& where) {
  TrainState s;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    s.epoch = j.at("epoch").get<int>();
    s.global_step = j.at("global_step").get<int64_t>();
    s.best_val_loss =
        j.at("best_val_loss").is_null() ? INFINITY : j.at("best_val_loss").get<double>();
    s.best_epoch = j.at("best_epoch").get<int>();
    for (const auto& row : j.at("history")) {
      EpochMetrics m;
      m.epoch = row.at(0).get<int>();
      m.train_loss = row.at(1).get<double>();
      m.train_dice = row.at(2).get<double>();
      m.val_loss = row.at(3).get<double>();
      m.val_dice = row.at(4).get<double>();
      m.lr = row.at(5).get<double>();
      m.seconds = row.at(6).get<double>();
      s.history.push_back(m);
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": bad training state in the checkpoint (" +
                             std::string(e.what()) +
                             "); resume from a last.safetensors written by unet_train");
  }
  return s;
}

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& history) {
  std::ostringstream out;
  out << "epoch,train_loss,train_dice,val_loss,val_dice,lr,seconds\n";
  out.precision(6);
  for (const EpochMetrics& m : history) {
    out << m.epoch << "," << m.train_loss << "," << m.train_dice << "," << m.val_loss << ","
        << m.val_dice << "," << m.lr << "," << m.seconds << "\n";
  }
  const std::string text = out.str();
  io::write_file_atomic(path, text.data(), text.size());
}

std::string write_dice_plot(const std::string& dir, const std::vector<EpochMetrics>& history) {
  io::PlotSeries train{"train Dice", {}, {}}, val{"validation Dice", {}, {}};
  for (const EpochMetrics& m : history) {
    train.x.push_back(m.epoch);
    train.y.push_back(m.train_dice);
    val.x.push_back(m.epoch);
    val.y.push_back(m.val_dice);
  }
  io::PlotOptions options;
  options.title = "Dice coefficient per epoch";
  options.x_label = "epoch";
  options.y_label = "Dice";
  options.y_min = 0.0;
  options.y_max = 1.0;
  const std::string png = (std::filesystem::path(dir) / "dice_curve.png").string();
  io::write_plot_png(png, {train, val}, options);
  io::write_plot_svg((std::filesystem::path(dir) / "dice_curve.svg").string(), {train, val},
                     options);
  return png;
}

}  // namespace unet::apps
