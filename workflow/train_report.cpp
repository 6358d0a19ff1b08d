#include "workflow/train_report.h"

#include <filesystem>
#include <sstream>

#include "io/atomic_file.h"
#include "io/plot.h"

namespace unet::workflow {

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

}  // namespace unet::workflow
