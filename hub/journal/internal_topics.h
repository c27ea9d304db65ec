// The hub's own topics. They live in the same journal as the departments'
// records, so that one append makes a batch and the state that goes with it (a
// connector's source position, a subscriber's cursor) durable together.
#pragma once

#include <string_view>

namespace hutong::journal {

// key: connector name; value: the connector's opaque source position. Compacted.
inline constexpr std::string_view kTopicConnectorPosition = "hub.position";
// key: subscription name; value: the last offset the subscriber acknowledged. Compacted.
inline constexpr std::string_view kTopicSubscriberCursor = "hub.cursor";
// key: connector|source|row; value: a QuarantinedRow envelope. Compacted.
inline constexpr std::string_view kTopicQuarantine = "hub.quarantine";
// key: department|sequence; value: an audit entry. Kept by age/size retention.
inline constexpr std::string_view kTopicAudit = "hub.audit";

// key: connector name; value: what the operator confirmed for it (`hutong
// connector confirm`), handed to the plugin as its `confirmed` setting. Compacted.
inline constexpr std::string_view kTopicConfirmation = "hub.confirmation";

}  // namespace hutong::journal
