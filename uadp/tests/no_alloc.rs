//! Encoding and decoding never touch the heap: a counting global allocator sees zero
//! allocations on the test's thread across thousands of encode/decode calls.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use uadp::*;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// Set on the thread under test: only its allocations count. The test harness's own
    /// threads allocate at times of their choosing (its main thread registers the running test
    /// for the slow-test warning), which made a process-wide count fail now and then.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    // `try_with`: no panic while the thread's locals are being torn down.
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn codec_hot_paths_do_not_allocate() {
    let layout_types = [
        BuiltinType::UInt64,
        BuiltinType::UInt64,
        BuiltinType::ByteString,
    ];
    let pf = PeriodicFixedLayout {
        publisher_id: 2234,
        writer_group_id: 100,
        group_version: 1,
        fields: &layout_types,
    };
    let filler = [0u8; 1300];
    let mut buf = [0u8; 2048];
    let mut buf2 = [0u8; 2048];
    let mut scratch = [0u8; 256];
    let v2 = [
        0xf1u8, 0x01, 0xba, 0x08, 0x01, 0x64, 0x00, 0x01, 0x4d, 0xf4, 0xe1, 0x10, 0x00, 0xc0, 0x89,
        0x76, 0x45, 0x3c, 0xda, 0x01, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x0d, 0x00, 0xc0, 0x89, 0x76, 0x45, 0x3c, 0xda, 0x01, 0x06, 0xd6, 0xff, 0xff, 0xff, 0x08,
        0xcb, 0x04, 0xfb, 0x71, 0x1f, 0x01, 0x00, 0x00, 0x01, 0x01,
    ];
    COUNTED.with(|c| c.set(true));
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut checksum = 0u64;
    for i in 0..10_000u64 {
        let counters = PeriodicFixedCounters {
            sequence_number: i as u16,
            ..Default::default()
        };
        let n = pf
            .encode(
                &mut buf,
                counters,
                &[
                    Scalar::UInt64(i),
                    Scalar::UInt64(i * 3),
                    Scalar::ByteString(UaBytes::new(&filler[..(i % 1300) as usize])),
                ],
            )
            .expect("encode");
        let m = pf.decode(&buf[..n]).expect("periodic-fixed decode");
        checksum += u64::from(m.counters.sequence_number);
        let opts = DecodeOptions {
            raw_layout: Some(&layout_types),
            ..Default::default()
        };
        // The fast path: prepared Periodic-Fixed codec, borrowing view, value iterators,
        // batch RawData writer.
        let codec = pf.prepare();
        let n2 = codec
            .encode(
                &mut buf2,
                counters,
                &[
                    Scalar::UInt64(i),
                    Scalar::UInt64(i * 3),
                    Scalar::ByteString(UaBytes::new(&filler[..(i % 1300) as usize])),
                ],
            )
            .expect("codec encode");
        assert_eq!(buf2[..n2], buf[..n]);
        let m2 = codec.decode(&buf2[..n2]).expect("codec decode");
        checksum += codec.values(&m2).count() as u64;
        let view = NetworkMessageView::decode(&buf[..n], &opts).expect("view decode");
        for d in view.dataset_messages() {
            checksum += d.values().map(|f| u64::from(f.index)).sum::<u64>();
            for f in d.values() {
                checksum += u64::from(f.index);
            }
            checksum += d.raw_values().count() as u64;
        }
        let tutorial = NetworkMessageView::decode(&v2, &DecodeOptions::default()).expect("V2 view");
        for d in tutorial.dataset_messages() {
            checksum += d.values().count() as u64;
        }
        let mut w =
            FieldsWriter::new(&mut scratch, FieldEncoding::RawData).with_layout(&layout_types);
        w.push_raw_values(&[Scalar::UInt64(i), Scalar::UInt64(1)])
            .expect("push_raw_values");
        checksum += w.finish().expect("raw fields").bytes.len() as u64;
        let g = NetworkMessage::decode_with(&buf[..n], &opts).expect("general decode");
        for f in g.dataset_messages()[0].fields(Some(&layout_types)) {
            checksum += u64::from(f.is_ok());
        }
        let again = g.encode(&mut scratch[..0]).is_err();
        checksum += u64::from(again);
        let v = NetworkMessage::decode(&v2).expect("V2");
        let mut w = FieldsWriter::new(&mut scratch, FieldEncoding::Variant);
        for f in v.dataset_messages()[0].fields(None) {
            w.push(&f.expect("field").value).expect("re-encode field");
        }
        checksum += w.finish().expect("fields").bytes.len() as u64;
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    COUNTED.with(|c| c.set(false));
    assert!(checksum > 0);
    assert_eq!(
        after - before,
        0,
        "the codec allocated {} times in 10 000 iterations",
        after - before
    );
}
