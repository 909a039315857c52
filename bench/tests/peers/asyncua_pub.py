#!/usr/bin/env python3
"""An asyncua (opcua-asyncio) PubSub publisher for uadpbench's interoperability tests.

It configures asyncua's own UDP UADP connection, WriterGroup, DataSetWriter and
PublishedDataSet as an application would, with the SDK tutorial DataSet that uadpbench's presets
use (DateTime, Int32, Int64, Boolean). Message i (0, 1, 2, ...) carries DateTime = the time
asyncua sampled the DataSet, Int32 = Int64 = i and Boolean = (i is even): the values of
uadpbench's `DateTime=now,Int32=counter,Int64=counter,Boolean=toggle`.

The headers come from asyncua's configuration structures: --network-message and
--dataset-message are the UadpNetworkMessageContentMask / UadpDataSetMessageContentMask numbers
(the same bits as uadpbench's masks), --encoding picks the DataSetFieldContentMask.

After --count messages it stops and prints one JSON object on stdout:
{"asyncua": VERSION, "generated": N, "first_utc_us": ..., "last_utc_us": ...}.

Exit status: 0 after publishing, 1 when asyncua cannot open the socket (the reason on stderr),
2 for bad arguments, 3 when asyncua is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys

try:
    import asyncua
    from asyncua import pubsub, ua
    from asyncua.pubsub.udp import UdpSettings
    from asyncua.ua.uaprotocol_auto import (
        ConfigurationVersionDataType,
        DataSetFieldContentMask,
        UadpDataSetMessageContentMask,
        UadpNetworkMessageContentMask,
    )
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
DATASET = "uadpbench"
FIELDS = [
    ("DateTime", ua.VariantType.DateTime),
    ("Int32", ua.VariantType.Int32),
    ("Int64", ua.VariantType.Int64),
    ("Boolean", ua.VariantType.Boolean),
]
PUBLISHER_ID_TYPES = {"Byte": ua.Byte, "UInt16": ua.UInt16, "UInt32": ua.UInt32, "UInt64": ua.UInt64, "String": ua.String}
ENCODINGS = {
    "variant": DataSetFieldContentMask(0),
    "raw-data": DataSetFieldContentMask.RawData,
    # asyncua's default for DataValue fields: value, status and both timestamps.
    "data-value": DataSetFieldContentMask.StatusCode
    | DataSetFieldContentMask.SourceTimestamp
    | DataSetFieldContentMask.ServerTimestamp,
}


def publisher_id(text: str):
    kind, sep, value = text.partition(":")
    if not sep or kind not in PUBLISHER_ID_TYPES:
        raise argparse.ArgumentTypeError(
            f"publisher id `{text}`: expected TYPE:VALUE, TYPE one of {', '.join(PUBLISHER_ID_TYPES)}"
        )
    try:
        return PUBLISHER_ID_TYPES[kind](value if kind == "String" else int(value, 0))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"publisher id `{text}`: {err}") from err


def mask(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"mask `{text}` is not a number") from err


def config_version(text: str) -> tuple[int, int]:
    major, sep, minor = text.partition(".")
    try:
        return int(major, 0), int(minor, 0) if sep else 0
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"config version `{text}`: expected MAJOR.MINOR") from err


def unix_us(t: datetime.datetime) -> int:
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


class CountingSource(pubsub.PubSubDataSource):
    """The DataSet values of message i; asyncua samples it once per DataSetMessage."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.generated = 0
        self.times: list[datetime.datetime] = []
        self.done = asyncio.Event()

    async def on_get_value(self) -> list[ua.DataValue]:
        i = self.generated
        now = datetime.datetime.now(datetime.timezone.utc)
        self.generated += 1
        self.times.append(now)
        if self.generated >= self.count:
            # This runs inside the WriterGroup's task, which sends message i without yielding
            # and then sleeps a publishing interval: cancelling the task here ends it in that
            # sleep, after exactly --count messages. (Stopping it from the main task instead
            # races with the interval on a busy machine: one message too many.)
            task = asyncio.current_task()
            if task is not None:
                task.cancel()
            self.done.set()
        good = ua.StatusCode(ua.StatusCodes.Good)
        values = [
            ua.Variant(now, ua.VariantType.DateTime),
            ua.Variant(ua.Int32(i), ua.VariantType.Int32),
            ua.Variant(ua.Int64(i), ua.VariantType.Int64),
            ua.Variant(i % 2 == 0, ua.VariantType.Boolean),
        ]
        return [ua.DataValue(v, good, SourceTimestamp=now, ServerTimestamp=now) for v in values]


async def run(args) -> dict:
    meta = pubsub.DataSetMeta.Create(DATASET)
    for name, vt in FIELDS:
        meta.add_scalar(name, vt)
    major, minor = args.config_version
    meta.get_config().ConfigurationVersion = ConfigurationVersionDataType(
        MajorVersion=ua.UInt32(major), MinorVersion=ua.UInt32(minor)
    )
    source = CountingSource(args.count)
    pds = pubsub.PublishedDataSet.Create(DATASET, meta, source)

    writer = pubsub.DataSetWriter.new_uadp(
        name="uadpbench-writer",
        dataset_name=DATASET,
        dataset_writer_id=ua.UInt16(args.writer_id),
    )
    writer._cfg.DataSetFieldContentMask = ENCODINGS[args.encoding]
    writer._cfg.MessageSettings.DataSetMessageContentMask = UadpDataSetMessageContentMask(args.dataset_message)
    group = pubsub.WriterGroup.new_uadp(
        name="uadpbench-group",
        writer_group_id=ua.UInt16(args.writer_group_id),
        group_version=ua.UInt32(args.group_version),
        publishing_interval=args.interval_ms,
        writer=[writer],
    )
    group._cfg.MessageSettings.NetworkMessageContentMask = UadpNetworkMessageContentMask(args.network_message)

    settings = UdpSettings(Url=args.url)
    if args.bind:
        settings.Adapter = (args.bind, settings.Adapter[1])
    con = pubsub.PubSubConnection.udp_uadp("uadpbench-pub", args.publisher_id, settings, writer_groups=[group])
    # add_*, not PubSub.new(connections=...): only add_connection links the connection to
    # the PubSub that owns the PublishedDataSets.
    ps = pubsub.PubSub.new()
    await ps.add_published_dataset(pds)
    await ps.add_connection(con)
    # PubSub.start() only logs a connection that fails to open its socket (a multicast group
    # with no route: asyncua joins it on INADDR_ANY): open it once first to report why.
    try:
        sock, _, _ = settings.create_socket()
        sock.close()
    except OSError as err:
        raise SystemExit(f"asyncua cannot open {args.url}: {err}") from err
    await ps.start()
    await asyncio.wait_for(source.done.wait(), args.count * args.interval_ms / 1000 + 30)
    # Let the event loop flush the datagram transport, then stop the connection.
    await asyncio.sleep(0.05)
    await ps.stop()
    return {
        "asyncua": ASYNCUA_VERSION,
        "generated": source.generated,
        "first_utc_us": unix_us(source.times[0]) if source.times else None,
        "last_utc_us": unix_us(source.times[-1]) if source.times else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="opc.udp://HOST:PORT (unicast or multicast)")
    p.add_argument("--bind", default=None, help="local address to bind (default 0.0.0.0)")
    p.add_argument("--publisher-id", type=publisher_id, default=ua.UInt16(2234), help="TYPE:VALUE")
    p.add_argument("--writer-group-id", type=int, default=100)
    p.add_argument("--writer-id", type=int, default=62541)
    p.add_argument("--encoding", choices=sorted(ENCODINGS), default="variant")
    p.add_argument("--network-message", type=mask, default=0x47, help="UadpNetworkMessageContentMask")
    p.add_argument("--dataset-message", type=mask, default=0x19, help="UadpDataSetMessageContentMask")
    p.add_argument("--group-version", type=int, default=1)
    p.add_argument("--config-version", type=config_version, default=(1, 0), help="MAJOR.MINOR")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--interval-ms", type=float, default=5.0, help="publishing interval")
    args = p.parse_args()
    if args.count < 1 or args.interval_ms <= 0:
        p.error("--count must be at least 1 and --interval-ms positive")
    out = asyncio.run(run(args))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
