#include "apps/common/gnuplot.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "apps/common/png.h"
#include "tensor/file_io.h"

namespace scorch::app {
namespace {

// A gnuplot single-quoted string, in which gnuplot expands nothing; '' stands for one quote. Control
// characters become spaces: a newline would end the command in the middle of the string.
std::string quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "''";
    else
      out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  }
  return out + "'";
}

const std::string& checked_color(const std::string& color) {
  bool ok = color.size() == 7 && color[0] == '#';
  for (size_t i = 1; ok && i < color.size(); ++i) ok = std::isxdigit(static_cast<unsigned char>(color[i]));
  if (!ok) throw std::invalid_argument("Figure: color '" + color + "' is not of the form #rrggbb");
  return color;
}

// One end of a pipe or socket, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(), fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Exited {
  int status = 0;  // as waitpid reports it
  std::string out, err;
};

// gnuplot running, with our ends of its stdin, stdout and stderr (non-blocking).
struct Gnuplot {
  pid_t pid = -1;
  Fd in, out, err;
};

// Starts `gnuplot` from PATH, with no shell in between. NOTE: its stdin is a socket, not a pipe, so
// that send(MSG_NOSIGNAL) says EPIPE when gnuplot exits before reading everything, where a pipe would
// kill us with SIGPIPE.
Gnuplot start_gnuplot(const std::string& png_path) {
  auto fail = [&](const char* call) {
    return std::runtime_error(png_path + ": cannot run gnuplot: " + call + ": " + std::strerror(errno));
  };
  int in[2], out[2], err[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) throw fail("socketpair");
  Gnuplot g;
  g.in = Fd(in[0]);
  const Fd in_theirs(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) throw fail("pipe");
  g.out = Fd(out[0]);
  const Fd out_theirs(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) throw fail("pipe");
  g.err = Fd(err[0]);
  const Fd err_theirs(err[1]);
  for (const Fd* fd : {&g.in, &g.out, &g.err}) ::fcntl(fd->get(), F_SETFL, O_NONBLOCK);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_theirs.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_theirs.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_theirs.get(), STDERR_FILENO);
  char name[] = "gnuplot";
  char* argv[] = {name, nullptr};
  const int rc = ::posix_spawnp(&g.pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc == ENOENT)
    throw std::runtime_error(png_path + ": cannot run gnuplot: not found (apt-get install gnuplot-nox)");
  if (rc != 0) throw std::runtime_error(png_path + ": cannot run gnuplot: " + std::strerror(rc));
  return g;
}

// Feeds `script` to gnuplot and collects its stdout and stderr in one poll loop (it may write while
// we still write to it), then reaps it. Closing its stdin is its end of input.
Exited finish_gnuplot(Gnuplot& g, const std::string& script) {
  Exited r;
  size_t sent = 0;
  char buf[1 << 16];
  while (g.in.open() || g.out.open() || g.err.open()) {
    pollfd p[3];
    nfds_t n = 0;
    for (const Fd* fd : {&g.in, &g.out, &g.err})
      if (fd->open()) p[n++] = {fd->get(), static_cast<short>(fd == &g.in ? POLLOUT : POLLIN), 0};
    if (::poll(p, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;  // cannot happen with valid descriptors; waitpid below still reaps gnuplot
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (p[i].revents == 0) continue;
      if (p[i].fd == g.in.get()) {
        const ssize_t k =
            ::send(g.in.get(), script.data() + sent, std::min(script.size() - sent, sizeof buf), MSG_NOSIGNAL);
        if (k > 0) sent += static_cast<size_t>(k);
        // EPIPE: gnuplot is gone; its stderr and exit status say why.
        if ((k < 0 && errno != EINTR && errno != EAGAIN) || sent == script.size()) g.in.reset();
      } else {
        Fd& fd = p[i].fd == g.out.get() ? g.out : g.err;
        const ssize_t k = ::read(fd.get(), buf, sizeof buf);
        if (k > 0)
          (&fd == &g.out ? r.out : r.err).append(buf, static_cast<size_t>(k));
        else if (k == 0 || (errno != EINTR && errno != EAGAIN))
          fd.reset();
      }
    }
  }
  while (::waitpid(g.pid, &r.status, 0) < 0 && errno == EINTR) {}
  return r;
}

// The last non-empty line gnuplot wrote on stderr (its error, after the echoed command), for a
// one-line message; "" when there is none.
std::string last_line(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) {
    std::replace_if(
        line.begin(), line.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }, ' ');
    if (line.find_first_not_of(' ') != std::string::npos) last = line.substr(line.find_first_not_of(' '));
  }
  return last.size() > 200 ? last.substr(0, 200) + "..." : last;
}

}  // namespace

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
  plots_.push_back(name + " " + style + " title " + quoted(label) + " noenhanced");
}

void Figure::points(const std::vector<double>& xy, const std::string& label, const std::string& color, double size) {
  add(xy, 2, "using 1:2 with points pt 7 ps " + std::to_string(size) + " lc rgb '" + checked_color(color) + "'", label);
}

void Figure::arrows(const std::vector<double>& rows, const std::string& label, const std::string& color) {
  add(rows, 4, "using 1:2:3:4 with vectors head size 0.12,20 filled lc rgb '" + checked_color(color) + "'", label);
}

void Figure::line(const std::vector<double>& xy, const std::string& label, const std::string& color) {
  square_ = false;
  add(xy, 2, "using 1:2 with lines lw 1.5 lc rgb '" + checked_color(color) + "'", label);
}

void Figure::render(const std::string& png_path) const {
  std::ostringstream s;
  // No `set output`: the PNG goes to gnuplot's stdout, and the closing `unset output` flushes it.
  s << "set terminal pngcairo size " << (square_ ? "900,900" : "1000,600") << " font 'sans,12'\n"
    << "set title " << quoted(title_) << " noenhanced\nset xlabel " << quoted(xlabel_) << " noenhanced\nset ylabel "
    << quoted(ylabel_) << " noenhanced\n"
    << "set grid\nset key top left opaque box\n";
  if (square_)
    s << "set size ratio -1\nset xrange [" << x_.lo << ":" << x_.hi << "]\nset yrange [" << y_.lo << ":" << y_.hi
      << "]\n";
  if (log_y_) s << "set logscale y\n";
  for (const std::string& b : blocks_) s << b;
  s << "plot ";
  for (size_t i = 0; i < plots_.size(); ++i) s << (i ? ", " : "") << plots_[i];
  s << "\nunset output\n";

  Gnuplot g = start_gnuplot(png_path);
  const Exited r = finish_gnuplot(g, s.str());
  const std::string said = last_line(r.err);
  if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
    throw std::runtime_error(png_path + ": gnuplot failed (" +
                             (WIFEXITED(r.status) ? "exit status " + std::to_string(WEXITSTATUS(r.status))
                                                  : "killed by signal " + std::to_string(WTERMSIG(r.status))) +
                             (said.empty() ? ")" : "): " + said));
  if (const std::string defect = png_defect(r.out); !defect.empty())
    throw std::runtime_error(png_path + ": gnuplot wrote no valid PNG (" + defect + ", " +
                             std::to_string(r.out.size()) + " bytes)" + (said.empty() ? "" : ": " + said));
  write_file_atomic(png_path, r.out);
}

}  // namespace scorch::app
