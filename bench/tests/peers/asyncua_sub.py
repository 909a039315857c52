#!/usr/bin/env python3
"""An asyncua (opcua-asyncio) PubSub subscriber for uadpbench's interoperability tests.

It configures asyncua's own UDP UADP connection, ReaderGroup and DataSetReader (with the
DataSetMetaData of the fields given) exactly as an application would, and reports what asyncua
decoded, as JSON on stdout:

* first line: {"ready": true, "asyncua": VERSION} once the socket is bound (multicast joined);
* last line: {"asyncua": VERSION, "messages": [...], "invalid_packets": N, "errors": [...]}
  once --count datagrams arrived (decoded, or dropped by asyncua as invalid), or after --timeout.

Per NetworkMessage: the headers as asyncua decoded them, and per DataSetMessage its header and
the field values the DataSetReader handed to the application (DateTime as microseconds since
the Unix epoch: asyncua decodes DateTime to a Python datetime, microsecond resolution).

Exit status: 0 when the run completed (whatever was received: the caller judges), 1 when asyncua
cannot open the socket (the reason on stderr), 2 for bad arguments, 3 when asyncua is not
installed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import sys
import uuid
from urllib.parse import urlparse

try:
    import asyncua
    from asyncua import pubsub, ua
    from asyncua.pubsub.udp import UdpSettings
except ImportError as e:  # pragma: no cover - reported to the caller
    print(
        f"asyncua is not installed ({e}): install it with "
        "`python3 -m pip install asyncua==2.1.0` (scripts/setup.sh does)",
        file=sys.stderr,
    )
    sys.exit(3)

ASYNCUA_VERSION = getattr(asyncua, "__version__", None)
if ASYNCUA_VERSION is None:
    from importlib.metadata import version as _dist_version

    ASYNCUA_VERSION = _dist_version("asyncua")

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

PUBLISHER_ID_TYPES = {
    "Byte": (ua.Byte, ua.VariantType.Byte),
    "UInt16": (ua.UInt16, ua.VariantType.UInt16),
    "UInt32": (ua.UInt32, ua.VariantType.UInt32),
    "UInt64": (ua.UInt64, ua.VariantType.UInt64),
    "String": (ua.String, ua.VariantType.String),
}


def publisher_id(text: str) -> ua.Variant:
    """`UInt16:2234` → Variant(UInt16(2234))."""
    kind, sep, value = text.partition(":")
    if not sep or kind not in PUBLISHER_ID_TYPES:
        raise argparse.ArgumentTypeError(
            f"publisher id `{text}`: expected TYPE:VALUE, TYPE one of {', '.join(PUBLISHER_ID_TYPES)}"
        )
    cls, vt = PUBLISHER_ID_TYPES[kind]
    try:
        v = cls(value) if kind == "String" else cls(int(value, 0))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"publisher id `{text}`: {err}") from err
    return ua.Variant(v, vt)


def field_types(text: str) -> list[ua.VariantType]:
    out = []
    for name in text.split(","):
        try:
            out.append(ua.VariantType[name.strip()])
        except KeyError as err:
            raise argparse.ArgumentTypeError(f"unknown built-in type `{name}`") from err
    return out


def json_value(v):
    """A decoded value as JSON (DateTime: µs since the Unix epoch)."""
    if isinstance(v, ua.Variant):
        v = v.Value
    if isinstance(v, bool) or v is None or isinstance(v, (int, float, str)):
        return v
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        delta = v - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, ua.StatusCode):
        return v.value
    if isinstance(v, ua.XmlElement):
        return v.Value
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    return repr(v)


def variant_type(v) -> str | None:
    if isinstance(v, ua.Variant) and v.VariantType is not None:
        return v.VariantType.name
    return None


class Recorder:
    """The SubscribedDataSet handler plus the NetworkMessage log."""

    def __init__(self, count: int, log: CountInvalid) -> None:
        self.count = count
        self.log = log
        self.messages: list[dict] = []
        self.errors: list[str] = []
        self.pending: list[dict] = []
        self.done = asyncio.Event()
        log.on_invalid = self.check_done

    def check_done(self) -> None:
        if len(self.messages) + self.log.invalid >= self.count:
            self.done.set()

    # --- asyncua's SubscribedDataSet protocol
    async def on_dataset_received(self, meta, fields) -> None:
        self.pending.append(
            {
                "fields": [
                    {
                        "name": f.Name,
                        "type": variant_type(f.Value.Value),
                        "value": json_value(f.Value.Value),
                        "status": json_value(f.Value.StatusCode),
                    }
                    for f in fields
                ]
            }
        )

    async def on_state_change(self, meta, state) -> None:
        pass

    # --- wraps PubSubConnection.got_uadp: every NetworkMessage asyncua decoded
    def wrap(self, original):
        async def got_uadp(msg) -> None:
            self.pending = []
            try:
                await original(msg)
            except Exception as err:  # asyncua would lose it in a future: report it
                self.errors.append(f"handling a NetworkMessage: {type(err).__name__}: {err}")
            self.messages.append(describe(msg, self.pending))
            self.check_done()

        return got_uadp


def describe(msg, delivered: list[dict]) -> dict:
    g = msg.GroupHeader
    payload = msg.Payload if isinstance(msg.Payload, list) else []
    return {
        "publisher_id": json_value(msg.Header.PublisherId),
        "publisher_id_class": type(msg.Header.PublisherId).__name__,
        "writer_group_id": g.WriterGroupId if g else None,
        "group_version": g.GroupVersion if g else None,
        "network_message_number": g.NetworkMessageNo if g else None,
        "network_sequence": g.SequenceNo if g else None,
        "writer_ids": list(msg.DataSetPayloadHeader),
        "timestamp": json_value(msg.Timestamp),
        "dataset_messages": [
            {
                "kind": type(d).__name__,
                "sequence": d.Header.SequenceNo,
                "status": d.Header.Status,
                "timestamp": json_value(d.Header.Timestamp),
                "major_version": d.Header.CfgMajorVersion,
                "minor_version": d.Header.CfgMinorVersion,
            }
            for d in payload
        ],
        "datasets": delivered,
    }


class CountInvalid(logging.Handler):
    """asyncua logs (and drops) datagrams it cannot decode: count them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.invalid = 0
        self.lines: list[str] = []
        self.on_invalid = lambda: None

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        self.lines.append(f"{record.levelname} {record.name}: {text}")
        if "Invalid UadpPacket" in text:
            self.invalid += 1
            self.on_invalid()


async def run(args) -> dict:
    log = CountInvalid()
    logging.getLogger().addHandler(log)
    logging.getLogger().setLevel(logging.WARNING)

    meta = pubsub.DataSetMeta.Create("uadpbench")
    for i, vt in enumerate(args.fields):
        meta.add_scalar(f"f{i}_{vt.name}", vt)
    rec = Recorder(args.count, log)
    reader = pubsub.DataSetReader.new(
        args.publisher_id,
        ua.UInt16(args.writer_group_id),
        ua.UInt16(args.writer_id),
        meta,
        name="uadpbench-reader",
        enabled=True,
        subscribed=rec,
    )
    group = pubsub.ReaderGroup.new(name="uadpbench-readers", enable=True, reader=[reader])
    url = urlparse(args.url)
    port = url.port or 4840
    settings = UdpSettings(Url=args.url, Adapter=(args.bind, port) if args.bind else None)
    con = pubsub.PubSubConnection.udp_uadp(
        "uadpbench-sub", ua.UInt16(1), settings, reader_groups=[group]
    )
    # The connection is its own receiver (PubSubConnection._receiver): wrap its handler.
    con.got_uadp = rec.wrap(con.got_uadp)
    ps = pubsub.PubSub.new()
    await ps.add_connection(con)
    # PubSub.start() only logs a connection that fails to open its socket (a multicast group
    # with no route: asyncua joins on INADDR_ANY): open it once first to report why.
    try:
        sock, _, _ = settings.create_socket()
        sock.close()
    except OSError as err:
        raise SystemExit(f"asyncua cannot open {args.url}: {err}") from err
    await ps.start()
    if con._transport is None:
        raise SystemExit(f"asyncua did not open {args.url}: {log.lines}")
    print(json.dumps({"ready": True, "asyncua": ASYNCUA_VERSION}), flush=True)
    try:
        await asyncio.wait_for(rec.done.wait(), args.timeout)
    except asyncio.TimeoutError:
        pass
    return {
        "asyncua": ASYNCUA_VERSION,
        "messages": rec.messages,
        "invalid_packets": log.invalid,
        "errors": rec.errors + log.lines,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="opc.udp://224.0.0.22:4840", help="opc.udp://HOST:PORT")
    p.add_argument(
        "--bind",
        default=None,
        help="local address to bind (default 0.0.0.0; a multicast group is joined on the "
        "interface the routing table picks: asyncua cannot name one)",
    )
    p.add_argument("--publisher-id", type=publisher_id, required=True, help="TYPE:VALUE")
    p.add_argument("--writer-group-id", type=int, default=0, help="0: any")
    p.add_argument("--writer-id", type=int, default=0, help="DataSetWriterId, 0: any")
    p.add_argument("--fields", type=field_types, required=True, help="built-in types, e.g. Int32,DateTime")
    p.add_argument("--count", type=int, default=1, help="stop after this many datagrams")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds")
    args = p.parse_args()
    out = asyncio.run(run(args))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
