// gnuplot.h: figures drawn by gnuplot (Debian's gnuplot-nox), driven through a pipe.
//
// A Figure collects a script and inline data blocks, then render() runs `gnuplot` once and writes a
// PNG (pngcairo). The PNG is written to a temporary name and renamed, so a figure is never half-written.
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
