#include "tensor/file_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <new>
#include <stdexcept>

namespace scorch {

static_assert(std::endian::native == std::endian::little, "file formats assume a little-endian host");

namespace {

[[noreturn]] void throw_errno(const std::string& path, const std::string& what, int err) {
  throw std::runtime_error(path + ": " + what + ": " + std::strerror(err));
}

// 0, or errno when a system call returned -1. Read at once: building a message may change errno.
int errno_of(int rc) { return rc < 0 ? errno : 0; }

// The temporary file of one write_file_atomic: "<target>.tmp.<pid>.<n>", created exclusively so two
// writers never share one (kTempSuffixMax in file_io.h bounds the suffix). Closed and removed on
// destruction unless renamed over the target.
class TempFile {
 public:
  explicit TempFile(const std::string& target) {
    static std::atomic<uint64_t> counter{0};
    for (int attempt = 0; fd_ < 0; ++attempt) {
      name_ = target + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
      // 0666 minus the umask: the file gets the permissions a plain open() would give it.
      fd_ = ::open(name_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      const int err = errno_of(fd_);
      // EEXIST: a stale file left by a crashed process with our pid; try the next name.
      if (err != 0 && (err != EEXIST || attempt == 100))
        throw_errno(target, "cannot write: creating temporary file " + name_, err);
    }
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!renamed_) ::unlink(name_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  // Returns 0 or the errno of close(2), which can report a delayed write error (e.g. NFS, quota).
  int close() {
    const int err = errno_of(::close(fd_));
    fd_ = -1;
    return err;
  }
  void mark_renamed() { renamed_ = true; }

 private:
  std::string name_;
  int fd_ = -1;
  bool renamed_ = false;
};

// Returns 0 or the errno of the failed write(2); write may take fewer bytes than asked for.
int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

// fsync of the directory makes the rename itself durable (ext4/xfs keep it in the directory's data).
void sync_directory(const std::string& target) {
  const std::filesystem::path parent = std::filesystem::path(target).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (int err = errno_of(fd)) throw_errno(target, "written, but cannot open its directory " + dir + " to sync it", err);
  // NOTE: some filesystems cannot fsync a directory and say EINVAL; the rename is as durable as they allow.
  int err = errno_of(::fsync(fd));
  if (err == EINVAL) err = 0;
  ::close(fd);
  if (err != 0) throw_errno(target, "written, but syncing its directory " + dir + " failed", err);
}

// What st_mode names, for the error that refuses it.
std::string file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  TempFile tmp(path);
  if (int err = write_all(tmp.fd(), bytes)) throw_errno(path, "cannot write: writing " + tmp.name(), err);
  if (int err = errno_of(::fsync(tmp.fd()))) throw_errno(path, "cannot write: fsync of " + tmp.name(), err);
  if (int err = tmp.close()) throw_errno(path, "cannot write: closing " + tmp.name(), err);
  if (int err = errno_of(::rename(tmp.name().c_str(), path.c_str())))
    throw_errno(path, "cannot write: renaming " + tmp.name() + " over it", err);
  tmp.mark_renamed();
  sync_directory(path);
}

std::vector<std::string> remove_stale_temp_files(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const std::string prefix = target.filename().string() + ".tmp.";
  std::vector<std::string> removed;
  std::error_code ec;  // a missing or unreadable directory has nothing of ours to clean
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    // The rest must be exactly "<pid>.<n>", as TempFile names it (a Linux pid has at most 7 digits).
    const std::string rest = name.substr(prefix.size());
    const size_t dot = rest.find('.');
    auto digits = [](const std::string& s) {
      return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
    };
    if (dot == std::string::npos || dot > 9 || !digits(rest.substr(0, dot)) || !digits(rest.substr(dot + 1))) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(rest.substr(0, dot)));
    const bool alive = pid != ::getpid() && (::kill(pid, 0) == 0 || errno == EPERM);
    if (!alive && fs::remove(entry.path(), ec)) removed.push_back(entry.path().string());
  }
  return removed;
}

std::string read_file(const std::string& path) {
  // NOTE: open(2) of a FIFO without O_NONBLOCK waits for a writer, forever if none comes; and a FIFO or
  // a device (/dev/zero) read to its end may never end. Only a regular file has an end we know.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (int err = errno_of(fd)) throw_errno(path, "cannot open", err);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (int err = errno_of(::fstat(fd, &st))) throw_errno(path, "cannot stat", err);
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path + ": not a regular file (" + file_kind(st.st_mode) + ")");
  if (int err = errno_of(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK)))
    throw_errno(path, "cannot read", err);
  std::string bytes;
  char buffer[1 << 16];
  try {
    bytes.reserve(static_cast<size_t>(st.st_size));
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (int err = errno_of(static_cast<int>(n))) throw_errno(path, "cannot read", err);
      if (n == 0) break;
      bytes.append(buffer, static_cast<size_t>(n));
    }
  } catch (const std::bad_alloc&) {  // a huge (perhaps sparse) file: an error naming it, not a bare bad_alloc
    throw out_of_memory(path, static_cast<uint64_t>(st.st_size));
  }
  return bytes;
}

std::runtime_error out_of_memory(const std::string& path, uint64_t nbytes) {
  return std::runtime_error(path + ": out of memory reading " + std::to_string(nbytes) + " bytes");
}

void check_savable(const Tensor& t, std::string_view who) {
  if (!t.defined()) throw std::invalid_argument(std::string(who) + ": the tensor is undefined");
  if (!t.device().is_cpu()) throw std::invalid_argument(std::string(who) + ": needs a CPU tensor, got " + describe(t));
}

void append_tensor_bytes(std::string& out, const Tensor& t) {
  Tensor c = t;
  if (!t.is_contiguous() || !t.device().is_cpu()) {  // a CUDA tensor's bytes come through a CPU copy
    c = empty(t.shape(), {.dtype = t.dtype()});
    c.copy_(t);
  }
  const size_t nbytes = static_cast<size_t>(c.numel()) * dtype_size(c.dtype());
  if (nbytes > 0) out.append(static_cast<const char*>(c.raw_data()), nbytes);
}

Shape checked_shape(const std::vector<uint64_t>& dims, DType dtype, const std::string& who) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  text += "]";
  if (dims.size() > kMaxDims)
    throw std::runtime_error(who + ": shape " + text + " has more than " + std::to_string(kMaxDims) + " dimensions");
  uint64_t nbytes = dtype_size(dtype);
  for (uint64_t d : dims)
    if (d > uint64_t{INT64_MAX} || __builtin_mul_overflow(nbytes, d, &nbytes) || nbytes > uint64_t{INT64_MAX})
      throw std::runtime_error(who + ": shape " + text + " is too large (its size overflows 64 bits)");
  return Shape(std::vector<int64_t>(dims.begin(), dims.end()));
}

Tensor tensor_from_bytes(std::string_view bytes, const Shape& shape, DType dtype) {
  const size_t nbytes = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  if (bytes.size() != nbytes)
    throw std::logic_error("tensor_from_bytes: " + std::to_string(bytes.size()) + " bytes for " + to_string(shape) +
                           " " + std::string(dtype_name(dtype)) + ", which needs " + std::to_string(nbytes));
  Tensor t = empty(shape, {.dtype = dtype});
  if (nbytes > 0) std::memcpy(t.raw_data(), bytes.data(), nbytes);
  return t;
}

}  // namespace scorch
