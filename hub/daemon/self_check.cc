#include "self_check.h"

#include "domain/encoding.h"
#include "domain/name.h"
#include "domain/privacy.h"
#include "domain/resident_id.h"
#include "hutong/v1/envelope.pb.h"
#include "hutong/v1/options.pb.h"

namespace hutong::daemon {
namespace {

CheckResult check_schemas() {
  const google::protobuf::Descriptor* envelope = hutong::v1::Envelope::descriptor();
  const google::protobuf::OneofDescriptor* payload = envelope->FindOneofByName("payload");
  if (payload == nullptr) return {"schemas", false, "hutong.v1.Envelope has no payload oneof"};
  for (int i = 0; i < payload->field_count(); ++i) {
    const google::protobuf::Descriptor* record = payload->field(i)->message_type();
    const auto& options = record->options().GetExtension(hutong::v1::record);
    if (options.topic().empty()) {
      return {"schemas", false, "record type " + record->full_name() + " declares no topic"};
    }
  }
  hutong::v1::Envelope probe;
  probe.set_topic("education.enrollment");
  probe.mutable_student_enrollment()->mutable_student()->set_resident_id("11010519491231002X");
  hutong::v1::Envelope back;
  if (!back.ParseFromString(probe.SerializeAsString()) ||
      back.student_enrollment().student().resident_id() != "11010519491231002X") {
    return {"schemas", false, "an envelope does not survive serialization"};
  }
  return {"schemas", true,
          "hutong.v1: " + std::to_string(payload->field_count()) + " record types"};
}

CheckResult check_resident_ids() {
  for (const char* example : {"11010519491231002X", "440524188001010014"}) {
    if (!domain::normalize_resident_id(example, {})) {
      return {"resident-id", false,
              std::string("the standard's example ") + example + " does not validate"};
    }
  }
  return {"resident-id", true, "GB 11643-1999 examples validate"};
}

CheckResult check_opencc() {
  Status status = domain::name_folding_status();
  if (!status) return {"opencc", false, status.message()};
  Result<std::string> key = domain::name_match_key("劉偉");
  if (!key || *key != "刘伟")
    return {"opencc", false, "t2s folds 劉偉 to something other than 刘伟"};
  return {"opencc", true, "traditional-to-simplified folding works (劉偉 -> 刘伟)"};
}

CheckResult check_gb18030() {
  Result<std::string> encoded = domain::utf8_to_gb18030("大荔县·𠀀");
  if (!encoded) return {"gb18030", false, encoded.status().message()};
  domain::TextDecoder decoder("");
  Result<domain::DecodedLine> decoded = decoder.decode(*encoded, 1, 0);
  if (!decoded || decoded->text != "大荔县·𠀀") {
    return {"gb18030", false, "iconv does not round-trip GB18030"};
  }
  return {"gb18030", true, "iconv converts GB18030 both ways"};
}

CheckResult check_hmac() {
  for (auto [algorithm, name] : {std::pair{domain::HashAlgorithm::kHmacSha256, "HMAC-SHA-256"},
                                 std::pair{domain::HashAlgorithm::kHmacSm3, "HMAC-SM3"}}) {
    auto hasher = domain::KeyedHasher::create(algorithm, "self-check-key-0123456789");
    if (!hasher) return {"keyed-hash", false, hasher.status().message()};
    if ((*hasher)->hex_digest("x").size() != 64) {
      return {"keyed-hash", false, std::string(name) + " gives a digest of the wrong size"};
    }
  }
  return {"keyed-hash", true, "OpenSSL provides HMAC-SHA-256 and HMAC-SM3"};
}

}  // namespace

std::vector<CheckResult> run_self_check() {
  return {check_schemas(), check_resident_ids(), check_opencc(), check_gb18030(), check_hmac()};
}

}  // namespace hutong::daemon
