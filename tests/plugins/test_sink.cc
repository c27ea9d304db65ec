// test_sink: a sink for the hub's tests (never shipped). It appends one line per
// record ("offset<TAB>topic<TAB>key<TAB>op", with `payloads` also the payload in
// hex) to a file and fsyncs; the file is its own durable state, from which it
// tells the hub where to resume. Each "caught up" call (count 0) appends a line
// to `flushes` in the connector's state_dir.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "hutong/plugin.hpp"

namespace {

const hutong_config_key kKeys[] = {
    {"file", HUTONG_CONFIG_PATH, nullptr, "the file the records' lines are appended to"},
    {"fail_after", HUTONG_CONFIG_INT, "0",
     "fail a delivery once this many records were stored (0: never)"},
    {"payloads", HUTONG_CONFIG_BOOL, "false", "append each record's payload in hex"},
};

class TestSink : public hutong::sdk::Sink {
 public:
  TestSink(const hutong::sdk::Host& host, const hutong::sdk::Settings& settings)
      : path_(settings.string("file")),
        fail_after_(settings.integer("fail_after")),
        payloads_(settings.boolean("payloads")),
        state_dir_(host.state_dir()) {}

  void flush() override {
    if (state_dir_.empty()) throw hutong::sdk::Failure("sink.state", "no state_dir");
    std::ofstream(state_dir_ + "/flushes", std::ios::app) << "caught up\n";
  }

  uint64_t committed_offset() override {
    std::ifstream in(path_);
    std::string line, last;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // a last line without its newline was never complete
      last = line;
    }
    return last.empty() ? 0 : std::stoull(last.substr(0, last.find('\t'))) + 1;
  }

  uint64_t deliver(std::span<const hutong_record> records) override {
    std::string text;
    for (const hutong_record& r : records) {
      if (fail_after_ > 0 && ++stored_ > fail_after_) {
        throw hutong::sdk::Failure("sink.full",
                                   "the test sink is full after " + std::to_string(fail_after_));
      }
      text += std::to_string(r.offset) + "\t" + std::string(r.topic, r.topic_len) + "\t" +
              std::string(r.key, r.key_len) + "\t" +
              (r.op == HUTONG_OP_DELETE ? "delete" : "upsert");
      if (payloads_) {
        static const char kHex[] = "0123456789abcdef";
        text += '\t';
        for (size_t i = 0; i < r.payload_len; ++i) {
          text += kHex[r.payload[i] >> 4];
          text += kHex[r.payload[i] & 15];
        }
      }
      text += '\n';
    }
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) throw hutong::sdk::Failure("sink.io", "cannot open " + path_);
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
              ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) throw hutong::sdk::Failure("sink.io", "cannot write " + path_);
    return records.back().offset + 1;
  }

 private:
  std::string path_;
  int64_t fail_after_;
  bool payloads_;
  std::string state_dir_;
  int64_t stored_ = 0;
};

}  // namespace

HUTONG_SINK_PLUGIN(TestSink, "test_sink", "1.0.0", "records as lines in a file", kKeys)
