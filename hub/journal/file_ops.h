// The journal's write-side system calls, behind a seam so that tests can make
// the disk fill up or fail at a chosen moment. Reads call the system directly.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <memory>

namespace hutong::journal {

class FileOps {
 public:
  virtual ~FileOps() = default;
  // As writev(2), fdatasync(2), ftruncate(2): -1 with errno set on failure.
  virtual ssize_t writev(int fd, const iovec* iov, int count);
  virtual int fdatasync(int fd);
  virtual int ftruncate(int fd, off_t length);

  static std::shared_ptr<FileOps> system();
};

}  // namespace hutong::journal
