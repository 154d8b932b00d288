// gnuplot.h: figures drawn by gnuplot (Debian's gnuplot-nox), driven through pipes.
//
// A Figure collects a script and inline data blocks (numbers only), then render() runs `gnuplot` once,
// without a shell, feeding the script on its stdin and reading the PNG (pngcairo) from its stdout. No
// path ever reaches gnuplot: render() checks the bytes (png_defect, apps/common/png.h) and writes them
// with write_file_atomic (tensor/file_io.h), so a figure is never half-written, a full disk or a file
// size limit is an error naming the file, and a killed run's temporary file is the kind
// remove_stale_temp_files cleans.
//
// NOTE: strings become gnuplot code. Titles and labels are single-quoted literals, in which gnuplot
// expands nothing (no `backquotes`, no @macros), with ' doubled and control characters (a newline
// would end the command) turned into spaces, and marked noenhanced so that ^ _ @ { } print as
// themselves. Colors must be "#rrggbb" (std::invalid_argument otherwise).
#pragma once
#include <string>
#include <vector>

namespace scorch::app {

struct Range {
  double lo, hi;
};

class Figure {
 public:
  // A square plot with title, axis labels and the same range on both axes.
  Figure(std::string title, Range x, Range y, std::string xlabel = "x", std::string ylabel = "y");
  // Scatter of points (x, y interleaved); point size in gnuplot units.
  void points(const std::vector<double>& xy, const std::string& label, const std::string& color, double size = 0.25);
  // Quiver plot: rows (x, y, dx, dy), arrows already scaled to plot units.
  void arrows(const std::vector<double>& rows, const std::string& label, const std::string& color);
  // A line plot of (x, y) pairs (log-scale y when asked); replaces the square layout.
  void line(const std::vector<double>& xy, const std::string& label, const std::string& color);
  void set_log_y() { log_y_ = true; }
  // Throws std::runtime_error naming png_path when gnuplot is missing or fails, or the file cannot be
  // written; the file is then left as it was.
  void render(const std::string& png_path) const;

 private:
  // Adds an inline data block of `columns` numbers per row and its plot clause.
  void add(const std::vector<double>& values, int columns, const std::string& style, const std::string& label);

  std::string title_, xlabel_, ylabel_;
  Range x_, y_;
  bool square_ = true, log_y_ = false;
  std::vector<std::string> blocks_, plots_;
};

}  // namespace scorch::app
