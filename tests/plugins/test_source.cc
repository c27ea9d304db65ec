// test_source: a synthetic source for the hub's tests and benchmarks (never
// shipped). It emits rows numbered from its position up to `total`, each an
// education.enrollment record keyed "row-<n>", and can misbehave on request:
// segfault or abort after some rows, emit bytes that are no record, or be slow.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "hutong/plugin.hpp"
#include "hutong/v1/education.pb.h"
#include "synthetic_person.h"

namespace {

const hutong_config_key kKeys[] = {
    {"total", HUTONG_CONFIG_INT, "1000", "how many rows the source holds"},
    {"per_poll", HUTONG_CONFIG_INT, "512", "at most this many rows per poll"},
    {"crash_after", HUTONG_CONFIG_INT, "0",
     "segfault once this process has emitted this many rows (0: never)"},
    {"abort_after", HUTONG_CONFIG_INT, "0",
     "abort() once this process has emitted this many rows (0: never)"},
    {"invalid_every", HUTONG_CONFIG_INT, "0",
     "every n-th row carries bytes that are no record (0: none)"},
    {"reject_every", HUTONG_CONFIG_INT, "0", "every n-th row is rejected as id.checksum (0: none)"},
    {"replay_fixed", HUTONG_CONFIG_BOOL, "true",
     "a replayed row now reads as a record (false: rejected again, for the same reason)"},
    {"sleep_ms", HUTONG_CONFIG_DURATION, "0", "sleep this long in every poll"},
    {"payload_bytes", HUTONG_CONFIG_INT, "0", "pad each record's class name to make it this large"},
    {"key_prefix", HUTONG_CONFIG_STRING, "row-", "records are keyed <key_prefix><row number>"},
    {"personal", HUTONG_CONFIG_BOOL, "false",
     "records carry resident IDs, a guardian with a phone and a division (synthetic_person.h), "
     "and are keyed by the student's ID"},
};

class TestSource : public hutong::sdk::Source {
 public:
  TestSource(const hutong::sdk::Host& host, const hutong::sdk::Settings& settings)
      : host_(host),
        total_(settings.integer("total")),
        per_poll_(settings.integer("per_poll")),
        crash_after_(settings.integer("crash_after")),
        abort_after_(settings.integer("abort_after")),
        invalid_every_(settings.integer("invalid_every")),
        reject_every_(settings.integer("reject_every")),
        sleep_ms_(settings.milliseconds("sleep_ms")),
        payload_bytes_(settings.integer("payload_bytes")),
        key_prefix_(settings.string("key_prefix")),
        personal_(settings.boolean("personal")),
        replay_fixed_(settings.boolean("replay_fixed")) {}

  void start(std::string_view position) override {
    next_ = position.empty() ? 0 : std::stoll(std::string(position));
    host_.info("resuming at row " + std::to_string(next_));
  }

  bool poll(hutong::sdk::Emitter& out, uint32_t max_records) override {
    if (sleep_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    if (next_ >= total_) return false;
    int64_t end =
        std::min<int64_t>({total_, next_ + per_poll_, next_ + static_cast<int64_t>(max_records)});
    for (; next_ < end; ++next_) {
      ++emitted_;
      if (crash_after_ > 0 && emitted_ > crash_after_) std::raise(SIGSEGV);
      if (abort_after_ > 0 && emitted_ > abort_after_) std::abort();
      std::string key = key_prefix_ + std::to_string(next_);
      std::string location = "counter row " + std::to_string(next_);
      if (invalid_every_ > 0 && next_ % invalid_every_ == invalid_every_ - 1) {
        out.upsert_bytes("education.enrollment", key, "\xFF\xFF\xFF not a record", location);
        continue;
      }
      if (reject_every_ > 0 && next_ % reject_every_ == reject_every_ - 1) {
        out.reject(rejected_row(next_));
        continue;
      }
      hutong::v1::StudentEnrollment record;
      record.mutable_student()->set_name("学生" + std::to_string(next_));
      record.set_school_code("2161002320");
      record.set_status(hutong::v1::ENROLLMENT_STATUS_ENROLLED);
      if (payload_bytes_ > 0) {
        record.set_class_name(std::string(static_cast<size_t>(payload_bytes_), 'c'));
      }
      if (personal_) {
        using namespace hutong::testing;
        std::string id = synthetic_student_id(next_);
        record.mutable_student()->set_resident_id(id);
        record.mutable_student()->set_id_type(hutong::v1::ID_TYPE_RESIDENT_ID);
        record.set_national_student_number("G" + id);
        record.set_hukou_division(synthetic_division(next_));
        record.mutable_guardian()->set_name("家长" + std::to_string(next_));
        record.mutable_guardian()->set_resident_id(synthetic_guardian_id(next_));
        record.mutable_guardian()->set_phone(synthetic_phone(next_));
        key = id;
      }
      out.upsert("education.enrollment", key, record, location);
    }
    out.position(std::to_string(next_));
    return true;
  }

  void replay(const hutong_rejected_row& row, hutong::sdk::Emitter& out) override {
    if (!replay_fixed_) {  // the source still holds the same bad row
      out.reject(rejected_row(static_cast<int64_t>(row.row_number) - 2));
      return;
    }
    // The "fixed" source: the row now reads as a valid record.
    hutong::v1::StudentEnrollment record;
    record.mutable_student()->set_name("补录" + std::to_string(row.row_number));
    out.upsert("education.enrollment", "replayed-" + std::to_string(row.row_number), record,
               "replay");
  }

 private:
  static hutong::sdk::RejectedRow rejected_row(int64_t n) {
    hutong::sdk::RejectedRow row;
    row.source_name = "counter";
    row.row_number = static_cast<uint64_t>(n) + 2;
    row.original = "G" + std::to_string(n) + ",bad id";
    row.original_encoding = "UTF-8";
    row.reason_code = "id.checksum";
    row.message = "row " + std::to_string(n) + " has a wrong check character";
    row.field = "身份证件号";
    row.intended_topic = "education.enrollment";
    return row;
  }

  hutong::sdk::Host host_;
  int64_t total_, per_poll_, crash_after_, abort_after_, invalid_every_, reject_every_, sleep_ms_,
      payload_bytes_;
  std::string key_prefix_;
  bool personal_ = false;
  bool replay_fixed_ = true;
  int64_t next_ = 0;
  int64_t emitted_ = 0;
};

}  // namespace

HUTONG_SOURCE_PLUGIN(TestSource, "test_source", "1.0.0", "numbered rows, misbehaving on request",
                     kKeys)
