#!/usr/bin/python3
"""A Hutong change-feed subscriber in Python, written from docs/feed-protocol.md.

It connects to the hub's feed over CurveZMQ with a department's key file
(`hutong keys new DEPT`), opens a durable subscription, grants credit, prints
every record as a JSON line, acknowledges what it has printed, and resumes from
the hub's stored cursor the next time it runs. Debian packages only:
python3-zmq and python3-protobuf; the message classes are generated from the
project's .proto files by protoc (see README.md in this folder).

    hutong_feed_client.py --key-file education.key --subscription roster-copy \
        [--topic education.enrollment] [--from cursor|snapshot|live|OFFSET] \
        [--max-records N] [--idle-exit SECONDS] [--proto-path DIR]
"""

import argparse
import json
import sys
import time

PROTOCOL_VERSION = 1


def read_key_file(path):
    """Key files are lines of `name: value`; values may be quoted."""
    fields = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise SystemExit(f"{path}:{number}: expected 'name: value'")
            fields[name.strip()] = value.strip().strip('"')
    for needed in ("public-key", "secret-key", "hub-public-key"):
        if needed not in fields:
            raise SystemExit(f"{path}: no {needed}")
    return fields


class FeedClient:
    """One durable subscription. next_batch() returns lists of Envelope messages."""

    def __init__(self, zmq, feed_pb2, endpoint, keys, subscription, topics, start, offset,
                 credit=4096):
        self.zmq = zmq
        self.pb = feed_pb2
        self.endpoint = endpoint
        self.keys = keys
        self.subscription = subscription
        self.topics = topics
        self.start = start
        self.offset = offset
        self.credit = credit
        self.context = zmq.Context.instance()
        self.socket = None
        self.last_delivered = None  # offsets at or below it are never handed out twice
        self.stored_cursor = None
        self.heartbeat = 1.0
        self.granted = 0
        self.received = 0

    def _send(self, request):
        self.socket.send(request.SerializeToString())
        self.last_sent = time.monotonic()

    def _recv(self, timeout):
        if not self.socket.poll(int(timeout * 1000)):
            return None
        reply = self.pb.FeedReply()
        reply.ParseFromString(self.socket.recv())
        self.last_heard = time.monotonic()
        return reply

    def connect(self, timeout=10.0):
        if self.socket is not None:
            self.socket.close(linger=0)
        zmq = self.zmq
        s = self.context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.curve_serverkey = self.keys["hub-public-key"].encode()
        s.curve_publickey = self.keys["public-key"].encode()
        s.curve_secretkey = self.keys["secret-key"].encode()
        s.connect(self.endpoint)
        self.socket = s
        self.granted = self.received = 0
        hello = self.pb.FeedRequest()
        hello.hello.protocol_version = PROTOCOL_VERSION
        hello.hello.subscription = self.subscription
        hello.hello.client = "hutong_feed_client.py"
        self._send(hello)
        sub = self.pb.FeedRequest()
        sub.subscribe.topics.extend(self.topics)
        if self.last_delivered is not None:  # resume right after what we handed out
            sub.subscribe.start = self.pb.START_OFFSET
            sub.subscribe.offset = self.last_delivered + 1
        else:
            sub.subscribe.start = self.start
            sub.subscribe.offset = self.offset
        # Subscribe must not be processed before Welcome is sent; ZeroMQ keeps order.
        self._send(sub)
        deadline = time.monotonic() + timeout
        welcomed = subscribed = False
        while not (welcomed and subscribed):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer from {self.endpoint} (running? key authorized?)")
            reply = self._recv(remaining)
            if reply is None:
                continue
            kind = reply.WhichOneof("kind")
            if kind == "error":
                raise RuntimeError(f"hub refused: {reply.error.code}: {reply.error.message}")
            if kind == "welcome":
                welcomed = True
                self.welcome = reply.welcome
                self.heartbeat = max(0.05, reply.welcome.heartbeat_interval_ms / 1000.0)
            elif kind == "subscribed":
                subscribed = True
        self._grant()

    def _grant(self):
        outstanding = self.granted - self.received
        if outstanding > self.credit // 2:
            return
        request = self.pb.FeedRequest()
        request.credit.records = self.credit - outstanding
        self._send(request)
        self.granted += request.credit.records

    def ack(self, offset):
        request = self.pb.FeedRequest()
        request.ack.offset = offset
        self._send(request)

    def next_batch(self, timeout):
        """Records received within `timeout` seconds (maybe none)."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if now - self.last_heard > 3 * self.heartbeat:  # the hub went away: start again
                try:
                    self.connect(timeout=2.0)
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        return []
                    continue
            if now - self.last_sent >= self.heartbeat:
                beat = self.pb.FeedRequest()
                beat.heartbeat.sent_at_micros = int(time.time() * 1e6)
                self._send(beat)
            if now >= deadline:
                return []
            reply = self._recv(min(deadline - now, self.heartbeat / 2))
            if reply is None:
                continue
            kind = reply.WhichOneof("kind")
            if kind == "batch":
                self.received += len(reply.batch.records)
                fresh = [r for r in reply.batch.records
                         if self.last_delivered is None or r.offset > self.last_delivered]
                if fresh:
                    self.last_delivered = fresh[-1].offset
                self._grant()
                if fresh:
                    return fresh
            elif kind == "ack_stored":
                self.stored_cursor = reply.ack_stored.offset
            elif kind == "error":
                if reply.error.code in ("session.unknown", "policy.changed"):
                    self.connect()
                elif reply.error.fatal:
                    raise RuntimeError(f"{reply.error.code}: {reply.error.message}")

    def wait_for_cursor(self, offset, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self.stored_cursor != offset and time.monotonic() < deadline:
            reply = self._recv(0.05)
            if reply is not None and reply.WhichOneof("kind") == "ack_stored":
                self.stored_cursor = reply.ack_stored.offset
        return self.stored_cursor == offset

    def close(self):
        request = self.pb.FeedRequest()
        request.bye.SetInParent()
        self._send(request)
        self.socket.close(linger=200)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--subscription", required=True)
    parser.add_argument("--endpoint", help="default: the key file's endpoint")
    parser.add_argument("--topic", action="append", default=[])
    parser.add_argument("--from", dest="start", default="cursor")
    parser.add_argument("--max-records", type=int, default=0)
    parser.add_argument("--idle-exit", type=float, default=0.0)
    parser.add_argument("--proto-path", help="where protoc --python_out wrote the modules")
    args = parser.parse_args()
    if args.proto_path:
        sys.path.insert(0, args.proto_path)

    import zmq
    from google.protobuf import json_format
    from hutong.feed.v1 import feed_pb2

    keys = read_key_file(args.key_file)
    endpoint = args.endpoint or keys.get("endpoint")
    if not endpoint:
        raise SystemExit("no endpoint: the key file names none; give --endpoint")
    starts = {"cursor": feed_pb2.START_CURSOR, "snapshot": feed_pb2.START_SNAPSHOT,
              "live": feed_pb2.START_LIVE}
    start, offset = (starts[args.start], 0) if args.start in starts else (
        feed_pb2.START_OFFSET, int(args.start))
    client = FeedClient(zmq, feed_pb2, endpoint, keys, args.subscription, args.topic, start,
                        offset)
    client.connect()
    printed = 0
    last_record = time.monotonic()
    while args.max_records == 0 or printed < args.max_records:
        if args.idle_exit and time.monotonic() - last_record > args.idle_exit:
            break
        batch = client.next_batch(0.2)
        if not batch:
            continue
        last_record = time.monotonic()
        if args.max_records:
            batch = batch[:args.max_records - printed]
        for envelope in batch:
            print(json.dumps(json_format.MessageToDict(envelope, preserving_proto_field_name=True),
                             ensure_ascii=False), flush=True)
        printed += len(batch)
        # Printed (and flushed) is "durably processed" for this example.
        client.last_delivered = batch[-1].offset
        client.ack(batch[-1].offset)
    if printed:
        client.wait_for_cursor(client.last_delivered)
    client.close()


if __name__ == "__main__":
    main()
