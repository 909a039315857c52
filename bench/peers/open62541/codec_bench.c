/* open62541 side of the codec comparison in docs/performance.md ("Codec and harness").
 *
 * Builds the same messages as uadp/benches/codec.rs (`bench_raw`): a UADP NetworkMessage with
 * the Periodic-Fixed headers (UADP version 1, ExtendedFlags1, PublisherId UInt16 2234,
 * GroupHeader with WriterGroupId 100, GroupVersion 0x12345678, NetworkMessageNumber 1,
 * SequenceNumber 7; no payload header; one key-frame DataSetMessage, valid, RawData, with
 * DataSetMessageSequenceNumber 7 and Status 0: 20 header bytes), whose fields are n UInt64
 * (value i * 0x01010101 for field i) and one UInt32 (7): n = 5 gives 64 bytes, n = 172 gives
 * 1 400 bytes.
 *
 * Rows (ns per message; each repetition is the median over batches of `--batch` iterations,
 * `--iters` iterations in all after a warm-up):
 *
 *   encode          the UA_NetworkMessage (headers) and its UA_DataSetMessage are prepared
 *                   once; its dataSetFields are UA_DataValue with scalar UA_Variant pointing
 *                   at UA_UInt64 / UA_UInt32 values (typed values), and dataSetMetaDataType
 *                   points at the DataSetMetaData (RawData encoding reads it). Per iteration:
 *                   the NetworkMessage sequence number is incremented (what uadp's
 *                   `general_encode` does), then UA_NetworkMessage_encodeBinary writes the
 *                   whole message into a preallocated 2 048-byte buffer.
 *   decode_values   per iteration what open62541 1.4's subscriber does for a RawData message
 *                   (ua_pubsub_reader.c: prepareOffsetBuffer's non-RT decode, then
 *                   DataSetReader_processRaw without the write to the information model):
 *                   UA_NetworkMessage_decodeHeaders, UA_NetworkMessage_decodePayload with
 *                   the reader's DataSetMetaData (RawData cannot be split without it),
 *                   UA_NetworkMessage_decodeFooters; then for every field
 *                   UA_findDataTypeWithCustom on the metadata's DataType NodeId and
 *                   UA_decodeBinaryInternal from the DataSetMessage's rawFields into a stack
 *                   value, whose bits are folded into a checksum (acc = rotl(acc, 7) ^ bits,
 *                   as uadp's benchmark); finally UA_NetworkMessage_clear (frees the
 *                   DataSetMessage array that decodePayload allocated).
 *
 * Supplementary rows (not in the table):
 *   decode_only          decodeHeaders + decodePayload(metadata) + decodeFooters + clear.
 *   decode_values_cached decode_values with the field DataTypes resolved once beforehand.
 *   decode_nometa_values the cheapest use of the 1.4 API found: UA_NetworkMessage_decodeBinary
 *                        without metadata (what ua_pubsub_connection.c calls; for RawData it
 *                        only records where the fields start and skips 1 500 bytes, decoding no
 *                        field), then decode_values' per-field loop with the DataTypes resolved
 *                        once, then clear.
 *
 * Checks before timing: the encoded bytes equal the bytes uadp's benchmark encodes
 * (spelled out below from the Part 14 layout and compared byte for byte; uadp's own bytes
 * can be printed with --hex and compared with `uadpbench decode`), the decoded headers hold
 * the encoded values, and the decode checksum equals the checksum uadp's
 * view_decode_raw_values fold computes over the same values.
 *
 * Usage: codec_bench [--reps N] [--iters N] [--batch N] [--row K] [--hex]
 *   --row K  run only row K (0-based, in the order printed), e.g. for instruction counts:
 *            valgrind --tool=callgrind codec_bench --reps 1 --iters N --batch 1000 --row K
 *            at two values of N; the difference of the totals over the difference of the
 *            iteration counts (1.2 N each: N timed + N/5 warm-up) is the count per message.
 */

#define _GNU_SOURCE
#include <open62541/types.h>
#include <open62541/types_generated.h>
#include <open62541/server_pubsub.h>

#include "ua_pubsub_networkmessage.h" /* src/pubsub: internal codec API of open62541 1.4 */
#include "ua_types_encoding_binary.h" /* src: UA_decodeBinaryInternal */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUF_CAP 2048

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t fold(uint64_t acc, uint64_t bits) {
    return ((acc << 7) | (acc >> 57)) ^ bits;
}

static volatile uint64_t sink;

typedef struct {
    size_t total;       /* message size in bytes */
    size_t nfields;     /* n UInt64 + 1 UInt32 */
    UA_UInt64 *u64;
    UA_UInt32 u32;
    UA_DataValue *dv;
    UA_FieldMetaData *fmd;
    UA_DataSetMetaDataType meta;
    UA_DataSetMessage dsm;
    UA_NetworkMessage nm;
    UA_Byte buf[BUF_CAP];
    UA_Byte expected[BUF_CAP];
    UA_ByteString bytes; /* the encoded message (points into expected) */
    const UA_DataType **types; /* resolved once, for decode_values_cached */
    UA_UInt16 seq;
} Msg;

/* The bytes uadp encodes for bench_raw(total): Periodic-Fixed headers, then the values LE. */
static size_t expected_bytes(Msg *m) {
    static const UA_Byte head[20] = {
        0xb1,             /* UADPFlags: version 1, PublisherId, GroupHeader, ExtendedFlags1 */
        0x01,             /* ExtendedFlags1: PublisherId type UInt16 */
        0xba, 0x08,       /* PublisherId 2234 */
        0x0f,             /* GroupFlags: WriterGroupId, GroupVersion, NM number, seq number */
        0x64, 0x00,       /* WriterGroupId 100 */
        0x78, 0x56, 0x34, 0x12, /* GroupVersion 0x12345678 */
        0x01, 0x00,       /* NetworkMessageNumber 1 */
        0x07, 0x00,       /* SequenceNumber 7 */
        0x1b,             /* DataSetFlags1: valid, RawData, sequence number, status */
        0x07, 0x00,       /* DataSetMessageSequenceNumber 7 */
        0x00, 0x00,       /* Status 0 */
    };
    size_t n = 0;
    memcpy(m->expected, head, sizeof head);
    n += sizeof head;
    for(size_t i = 0; i + 1 < m->nfields; i++) {
        uint64_t v = (uint64_t)i * 0x01010101u;
        for(int b = 0; b < 8; b++)
            m->expected[n++] = (UA_Byte)(v >> (8 * b));
    }
    for(int b = 0; b < 4; b++)
        m->expected[n++] = (UA_Byte)(7u >> (8 * b));
    return n;
}

static void setup(Msg *m, size_t total) {
    memset(m, 0, sizeof *m);
    m->total = total;
    size_t n64 = (total - 20 - 4) / 8;
    m->nfields = n64 + 1;
    m->u64 = (UA_UInt64 *)calloc(n64, sizeof(UA_UInt64));
    m->dv = (UA_DataValue *)calloc(m->nfields, sizeof(UA_DataValue));
    m->fmd = (UA_FieldMetaData *)calloc(m->nfields, sizeof(UA_FieldMetaData));
    m->types = (const UA_DataType **)calloc(m->nfields, sizeof(UA_DataType *));
    for(size_t i = 0; i < n64; i++)
        m->u64[i] = (UA_UInt64)i * 0x01010101u;
    m->u32 = 7;

    /* Typed values: DataValues with scalar Variants (no copy) and the DataSetMetaData. */
    for(size_t i = 0; i < m->nfields; i++) {
        const UA_DataType *t = i < n64 ? &UA_TYPES[UA_TYPES_UINT64] : &UA_TYPES[UA_TYPES_UINT32];
        UA_DataValue_init(&m->dv[i]);
        if(i < n64)
            UA_Variant_setScalar(&m->dv[i].value, &m->u64[i], t);
        else
            UA_Variant_setScalar(&m->dv[i].value, &m->u32, t);
        m->dv[i].hasValue = true;
        UA_FieldMetaData_init(&m->fmd[i]);
        m->fmd[i].dataType = t->typeId;
        m->fmd[i].builtInType = (UA_Byte)(t->typeKind + 1);
        m->fmd[i].valueRank = -1;
    }
    UA_DataSetMetaDataType_init(&m->meta);
    m->meta.fieldsSize = m->nfields;
    m->meta.fields = m->fmd;

    /* DataSetMessage header and payload */
    m->dsm.header.dataSetMessageValid = true;
    m->dsm.header.fieldEncoding = UA_FIELDENCODING_RAWDATA;
    m->dsm.header.dataSetMessageType = UA_DATASETMESSAGE_DATAKEYFRAME;
    m->dsm.header.dataSetMessageSequenceNrEnabled = true;
    m->dsm.header.dataSetMessageSequenceNr = 7;
    m->dsm.header.statusEnabled = true;
    m->dsm.header.status = 0;
    m->dsm.data.keyFrameData.fieldCount = (UA_UInt16)m->nfields;
    m->dsm.data.keyFrameData.dataSetFields = m->dv;
    m->dsm.data.keyFrameData.dataSetMetaDataType = &m->meta;

    /* NetworkMessage headers */
    m->nm.version = 1;
    m->nm.networkMessageType = UA_NETWORKMESSAGE_DATASET;
    m->nm.publisherIdEnabled = true;
    m->nm.publisherIdType = UA_PUBLISHERIDTYPE_UINT16;
    m->nm.publisherId.uint16 = 2234;
    m->nm.groupHeaderEnabled = true;
    m->nm.groupHeader.writerGroupIdEnabled = true;
    m->nm.groupHeader.writerGroupId = 100;
    m->nm.groupHeader.groupVersionEnabled = true;
    m->nm.groupHeader.groupVersion = 0x12345678;
    m->nm.groupHeader.networkMessageNumberEnabled = true;
    m->nm.groupHeader.networkMessageNumber = 1;
    m->nm.groupHeader.sequenceNumberEnabled = true;
    m->nm.groupHeader.sequenceNumber = 7;
    m->nm.payloadHeaderEnabled = false;
    m->nm.payload.dataSetPayload.dataSetMessages = &m->dsm;

    size_t exp_len = expected_bytes(m);
    if(exp_len != total) {
        fprintf(stderr, "setup: expected %zu bytes, built %zu\n", total, exp_len);
        exit(1);
    }
    m->bytes.data = m->expected;
    m->bytes.length = exp_len;
    for(size_t i = 0; i < m->nfields; i++)
        m->types[i] = UA_findDataTypeWithCustom(&m->fmd[i].dataType, NULL);
}

/* ---- the timed operations: one message each ---- */

static inline uint64_t op_encode(Msg *m) {
    m->seq++;
    m->nm.groupHeader.sequenceNumber = m->seq;
    UA_Byte *pos = m->buf;
    UA_StatusCode rv = UA_NetworkMessage_encodeBinary(&m->nm, &pos, m->buf + BUF_CAP, NULL);
    return (uint64_t)rv + (uint64_t)(pos - m->buf);
}

static inline uint64_t fold_value(uint64_t acc, const UA_DataType *type, const void *value) {
    switch(type->typeKind) {
    case UA_DATATYPEKIND_UINT64: return fold(acc, *(const UA_UInt64 *)value);
    case UA_DATATYPEKIND_UINT32: return fold(acc, *(const UA_UInt32 *)value);
    default: return acc + 1;
    }
}

static inline uint64_t decode_values(Msg *m, int cached, int read_values, UA_StatusCode *status) {
    UA_NetworkMessage nm;
    memset(&nm, 0, sizeof nm);
    size_t offset = 0;
    uint64_t acc = 0;
    UA_StatusCode rv;
    if(read_values == 2) /* no metadata: decodeBinary, RawData fields not delimited */
        rv = UA_NetworkMessage_decodeBinary(&m->bytes, &offset, &nm, NULL);
    else
        rv = UA_NetworkMessage_decodeHeaders(&m->bytes, &offset, &nm);
    if(rv == UA_STATUSCODE_GOOD && read_values != 2) {
        rv |= UA_NetworkMessage_decodePayload(&m->bytes, &offset, &nm, NULL, &m->meta);
        rv |= UA_NetworkMessage_decodeFooters(&m->bytes, &offset, &nm);
    }
    if(rv == UA_STATUSCODE_GOOD && read_values) {
        /* DataSetReader_processRaw */
        UA_DataSetMessage *msg = &nm.payload.dataSetPayload.dataSetMessages[0];
        msg->data.keyFrameData.fieldCount = (UA_UInt16)m->meta.fieldsSize;
        size_t off = 0;
        msg->data.keyFrameData.rawFields.length = 0;
        for(size_t i = 0; i < m->meta.fieldsSize; i++) {
            const UA_DataType *type = cached ? m->types[i]
                : UA_findDataTypeWithCustom(&m->meta.fields[i].dataType, NULL);
            msg->data.keyFrameData.rawFields.length += type->memSize;
            UA_STACKARRAY(UA_Byte, value, type->memSize);
            UA_StatusCode res = UA_decodeBinaryInternal(&msg->data.keyFrameData.rawFields,
                                                        &off, value, type, NULL);
            if(res != UA_STATUSCODE_GOOD) {
                rv = res;
                break;
            }
            acc = fold_value(acc, type, value);
        }
    }
    UA_NetworkMessage_clear(&nm);
    if(status)
        *status = rv;
    return acc;
}

static uint64_t op_decode_values(Msg *m) { return decode_values(m, 0, 1, NULL); }
static uint64_t op_decode_values_cached(Msg *m) { return decode_values(m, 1, 1, NULL); }
static uint64_t op_decode_only(Msg *m) { return decode_values(m, 0, 0, NULL); }
static uint64_t op_decode_nometa_values(Msg *m) { return decode_values(m, 1, 2, NULL); }

/* ---- checks ---- */

static void hexprint(const UA_Byte *b, size_t n) {
    for(size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    printf("\n");
}

static void check(Msg *m, uint64_t want_checksum, int print_hex) {
    UA_Byte *pos = m->buf;
    UA_StatusCode rv = UA_NetworkMessage_encodeBinary(&m->nm, &pos, m->buf + BUF_CAP, NULL);
    size_t len = (size_t)(pos - m->buf);
    if(print_hex) {
        printf("open62541 %zuB: ", len);
        hexprint(m->buf, len);
    }
    if(rv != UA_STATUSCODE_GOOD || len != m->total || memcmp(m->buf, m->expected, len) != 0) {
        fprintf(stderr, "%zuB: open62541 encoded %zu bytes (%s), not uadp's %zu bytes:\n",
                m->total, len, UA_StatusCode_name(rv), m->total);
        hexprint(m->buf, len);
        hexprint(m->expected, m->total);
        exit(1);
    }
    size_t calc = UA_NetworkMessage_calcSizeBinary(&m->nm, NULL);
    if(calc != m->total) {
        fprintf(stderr, "%zuB: calcSizeBinary says %zu\n", m->total, calc);
        exit(1);
    }

    /* Headers decode to what was encoded. */
    UA_NetworkMessage nm;
    memset(&nm, 0, sizeof nm);
    size_t offset = 0;
    rv = UA_NetworkMessage_decodeHeaders(&m->bytes, &offset, &nm);
    rv |= UA_NetworkMessage_decodePayload(&m->bytes, &offset, &nm, NULL, &m->meta);
    rv |= UA_NetworkMessage_decodeFooters(&m->bytes, &offset, &nm);
    UA_DataSetMessage *d = nm.payload.dataSetPayload.dataSetMessages;
    if(rv != UA_STATUSCODE_GOOD || offset != m->total || nm.version != 1 ||
       !nm.publisherIdEnabled || nm.publisherIdType != UA_PUBLISHERIDTYPE_UINT16 ||
       nm.publisherId.uint16 != 2234 || !nm.groupHeaderEnabled ||
       nm.groupHeader.writerGroupId != 100 || nm.groupHeader.groupVersion != 0x12345678 ||
       nm.groupHeader.networkMessageNumber != 1 || nm.groupHeader.sequenceNumber != 7 ||
       nm.payloadHeaderEnabled || !d || !d->header.dataSetMessageValid ||
       d->header.fieldEncoding != UA_FIELDENCODING_RAWDATA ||
       d->header.dataSetMessageSequenceNr != 7 || !d->header.statusEnabled ||
       d->header.status != 0 || d->data.keyFrameData.fieldCount != m->nfields ||
       d->data.keyFrameData.rawFields.length != m->total - 20) {
        fprintf(stderr, "%zuB: decoded headers differ (%s, offset %zu)\n", m->total,
                UA_StatusCode_name(rv), offset);
        exit(1);
    }
    UA_NetworkMessage_clear(&nm);

    /* Every value, and the checksum uadp's benchmark fold computes. */
    uint64_t want = 0;
    for(size_t i = 0; i + 1 < m->nfields; i++)
        want = fold(want, m->u64[i]);
    want = fold(want, m->u32);
    if(want != want_checksum) {
        fprintf(stderr, "%zuB: checksum of the values %016llx, uadp's %016llx\n", m->total,
                (unsigned long long)want, (unsigned long long)want_checksum);
        exit(1);
    }
    for(int cached = 0; cached < 3; cached++) {
        UA_StatusCode st;
        uint64_t got = decode_values(m, cached ? 1 : 0, cached == 2 ? 2 : 1, &st);
        if(st != UA_STATUSCODE_GOOD || got != want) {
            fprintf(stderr, "%zuB: decode_values (cached %d): %s, checksum %016llx want %016llx\n",
                    m->total, cached, UA_StatusCode_name(st), (unsigned long long)got,
                    (unsigned long long)want);
            exit(1);
        }
    }
}

/* ---- timing ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One repetition: warm-up, then iters iterations in batches; the median batch in ns per
 * message. */
static double run(uint64_t (*op)(Msg *), Msg *m, size_t iters, size_t batch, size_t warmup) {
    uint64_t acc = 0;
    for(size_t i = 0; i < warmup; i++)
        acc += op(m);
    size_t nb = (iters + batch - 1) / batch;
    double *per = (double *)malloc(nb * sizeof(double));
    for(size_t b = 0; b < nb; b++) {
        uint64_t t0 = now_ns();
        for(size_t i = 0; i < batch; i++)
            acc += op(m);
        uint64_t t1 = now_ns();
        per[b] = (double)(t1 - t0) / (double)batch;
    }
    sink += acc;
    double med = median(per, nb);
    free(per);
    return med;
}

typedef struct {
    const char *name;
    uint64_t (*op)(Msg *);
    size_t size;
} Row;

int main(int argc, char **argv) {
    size_t reps = 5, iters = 1000000, batch = 1000;
    int print_hex = 0;
    long only = -1;
    for(int i = 1; i < argc; i++) {
        if(!strcmp(argv[i], "--reps") && i + 1 < argc) reps = strtoul(argv[++i], NULL, 10);
        else if(!strcmp(argv[i], "--iters") && i + 1 < argc) iters = strtoul(argv[++i], NULL, 10);
        else if(!strcmp(argv[i], "--batch") && i + 1 < argc) batch = strtoul(argv[++i], NULL, 10);
        else if(!strcmp(argv[i], "--row") && i + 1 < argc) only = strtol(argv[++i], NULL, 10);
        else if(!strcmp(argv[i], "--hex")) print_hex = 1;
        else {
            fprintf(stderr, "usage: %s [--reps N] [--iters N] [--batch N] [--row K] [--hex]\n", argv[0]);
            return 2;
        }
    }

    printf("open62541 %s (config.h: %d.%d.%d)\n", UA_OPEN62541_VERSION, UA_OPEN62541_VER_MAJOR,
           UA_OPEN62541_VER_MINOR, UA_OPEN62541_VER_PATCH);
    static Msg m64, m1400;
    setup(&m64, 64);
    setup(&m1400, 1400);
    /* Checksums of uadp's view_decode_raw_values fold over the same values (acc from 0). */
    check(&m64, 0x001050929282c207ull, print_hex);
    check(&m1400, 0x24776234ebb8adfcull, print_hex);
    printf("bytes: open62541 encodes the 64 B and 1400 B messages byte for byte as uadp's "
           "codec benchmark; decoded headers and checksums match\n");
    if(print_hex)
        return 0;

    const Row rows[] = {
        {"64B encode (from typed values)", op_encode, 64},
        {"64B decode + read every field value", op_decode_values, 64},
        {"1400B encode (from typed values)", op_encode, 1400},
        {"1400B decode + read every field value", op_decode_values, 1400},
        {"(supplementary) 64B decode only", op_decode_only, 64},
        {"(supplementary) 64B decode + values, types resolved once", op_decode_values_cached, 64},
        {"(supplementary) 1400B decode only", op_decode_only, 1400},
        {"(supplementary) 1400B decode + values, types resolved once", op_decode_values_cached, 1400},
        {"(supplementary) 64B decodeBinary w/o metadata + values, types once", op_decode_nometa_values, 64},
        {"(supplementary) 1400B decodeBinary w/o metadata + values, types once", op_decode_nometa_values, 1400},
    };
    size_t nrows = sizeof rows / sizeof rows[0];
    printf("open62541 codec, ns per message: %zu repetitions, each the median of %zu batches "
           "of %zu iterations after %zu warm-up iterations\n",
           reps, (iters + batch - 1) / batch, batch, iters / 5);
    double *res = (double *)calloc(reps, sizeof(double));
    for(size_t r = 0; r < nrows; r++) {
        if(only >= 0 && (size_t)only != r)
            continue;
        Msg *m = rows[r].size == 64 ? &m64 : &m1400;
        for(size_t k = 0; k < reps; k++)
            res[k] = run(rows[r].op, m, iters, batch, iters / 5);
        printf("%-66s", rows[r].name);
        for(size_t k = 0; k < reps; k++)
            printf(" %8.1f", res[k]);
        printf("   median %8.1f\n", median(res, reps));
        fflush(stdout);
    }
    free(res);
    return 0;
}
