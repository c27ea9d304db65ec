#include "file_ops.h"

#include <unistd.h>

namespace hutong::journal {

ssize_t FileOps::writev(int fd, const iovec* iov, int count) {
  return ::writev(fd, iov, count);
}
int FileOps::fdatasync(int fd) {
  return ::fdatasync(fd);
}
int FileOps::ftruncate(int fd, off_t length) {
  return ::ftruncate(fd, length);
}

std::shared_ptr<FileOps> FileOps::system() {
  static const std::shared_ptr<FileOps> ops = std::make_shared<FileOps>();
  return ops;
}

}  // namespace hutong::journal
