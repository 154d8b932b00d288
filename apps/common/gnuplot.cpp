#include "apps/common/gnuplot.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace scorch::app {

Figure::Figure(std::string title, Range x, Range y, std::string xlabel, std::string ylabel)
    : title_(std::move(title)), xlabel_(std::move(xlabel)), ylabel_(std::move(ylabel)), x_(x), y_(y) {}

void Figure::add(const std::vector<double>& values, int columns, const std::string& style, const std::string& label) {
  const std::string name = "$d" + std::to_string(blocks_.size());
  std::ostringstream b;
  b << name << " << EOD\n";
  for (size_t i = 0; i + columns <= values.size(); i += columns) {
    for (int c = 0; c < columns; ++c) b << (c ? " " : "") << values[i + c];
    b << '\n';
  }
  b << "EOD\n";
  blocks_.push_back(b.str());
  plots_.push_back(name + " " + style + " title '" + label + "'");
}

void Figure::points(const std::vector<double>& xy, const std::string& label, const std::string& color, double size) {
  add(xy, 2, "using 1:2 with points pt 7 ps " + std::to_string(size) + " lc rgb '" + color + "'", label);
}

void Figure::arrows(const std::vector<double>& rows, const std::string& label, const std::string& color) {
  add(rows, 4, "using 1:2:3:4 with vectors head size 0.12,20 filled lc rgb '" + color + "'", label);
}

void Figure::line(const std::vector<double>& xy, const std::string& label, const std::string& color) {
  square_ = false;
  add(xy, 2, "using 1:2 with lines lw 1.5 lc rgb '" + color + "'", label);
}

void Figure::render(const std::string& png_path) const {
  const std::string tmp = png_path + ".tmp.png";
  std::ostringstream s;
  s << "set terminal pngcairo size " << (square_ ? "900,900" : "1000,600") << " font 'sans,12'\n"
    << "set output '" << tmp << "'\n"
    << "set title '" << title_ << "'\nset xlabel '" << xlabel_ << "'\nset ylabel '" << ylabel_ << "'\n"
    << "set grid\nset key top left opaque box\n";
  if (square_) s << "set size ratio -1\nset xrange [" << x_.lo << ":" << x_.hi << "]\nset yrange [" << y_.lo << ":" << y_.hi << "]\n";
  if (log_y_) s << "set logscale y\n";
  for (const std::string& b : blocks_) s << b;
  s << "plot ";
  for (size_t i = 0; i < plots_.size(); ++i) s << (i ? ", " : "") << plots_[i];
  s << "\nset output\n";

  // Checked first: writing to a pipe whose gnuplot never started would kill us with SIGPIPE.
  static const bool have_gnuplot = std::system("command -v gnuplot > /dev/null 2>&1") == 0;
  FILE* pipe = have_gnuplot ? popen("gnuplot 2>&1", "w") : nullptr;
  if (!pipe) throw std::runtime_error(png_path + ": cannot run gnuplot (apt-get install gnuplot-nox)");
  const std::string script = s.str();
  std::fwrite(script.data(), 1, script.size(), pipe);
  const int status = pclose(pipe);
  if (status != 0 || !std::filesystem::exists(tmp)) {
    std::filesystem::remove(tmp);
    throw std::runtime_error(png_path + ": gnuplot failed (exit status " + std::to_string(status) +
                             "; is gnuplot-nox installed?)");
  }
  std::filesystem::rename(tmp, png_path);
}

}  // namespace scorch::app
