// A department's subscriber as a separate process, for the feed kill test: it
// appends every record it receives to a file ("offset key\n"), makes the file
// durable, then (every fifth write) acknowledges; it exits once the file holds `expected` distinct
// offsets. Killed at any moment and restarted, it resumes from the hub's cursor,
// so records after the last acknowledgement may appear twice in the file — as
// the same offset.
//   feed_subscriber KEY_FILE SUBSCRIPTION OUTPUT EXPECTED
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <thread>

#include "feed/client.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: feed_subscriber KEY_FILE SUBSCRIPTION OUTPUT EXPECTED\n";
    return 2;
  }
  std::string output = argv[3];
  size_t expected = std::stoull(argv[4]);
  std::set<uint64_t> seen;
  {
    std::ifstream in(output);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) seen.insert(std::stoull(line));
    }
  }
  if (seen.size() >= expected) return 0;
  hutong::feed::FeedClientOptions options;
  if (hutong::Status s = hutong::feed::apply_key_file(argv[1], options); !s) {
    std::cerr << s.to_string() << "\n";
    return 1;
  }
  options.subscription = argv[2];
  options.client_name = "feed_subscriber";
  options.start = hutong::feed::v1::START_CURSOR;
  options.connect_timeout = std::chrono::milliseconds(2000);
  hutong::feed::FeedClient client(options);
  while (!client.connect()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::string pending;
  uint64_t last = 0;
  size_t lines = 0;
  size_t flushes = 0;
  auto flush = [&] {
    if (pending.empty()) return;
    if (::write(fd, pending.data(), pending.size()) != static_cast<ssize_t>(pending.size()) ||
        ::fdatasync(fd) != 0) {
      std::perror("write");
      std::exit(1);
    }
    pending.clear();
    lines = 0;
    // Acknowledges only every fifth write: a kill then leaves durable but
    // unacknowledged records that come again, as they would in a real consumer.
    if (++flushes % 5 == 0) client.ack(last);
  };
  while (seen.size() < expected) {
    auto record = client.next(std::chrono::milliseconds(50));
    if (!record) {
      std::cerr << record.status().to_string() << "\n";
      return 1;
    }
    if (!*record) {
      flush();
      continue;
    }
    last = (*record)->offset();
    seen.insert(last);
    pending += std::to_string(last) + " " + (*record)->key() + "\n";
    if (++lines >= 200) flush();
  }
  flush();
  client.ack(last);
  // Let the last acknowledgement reach the hub.
  for (int i = 0; i < 20 && client.stored_cursor() != last; ++i)
    (void)client.next(std::chrono::milliseconds(50));
  ::close(fd);
  return 0;
}
