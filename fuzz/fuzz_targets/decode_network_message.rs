//! Fuzzes the UADP decoder: any input must decode or fail with a typed error, never panic or
//! read out of bounds; whatever decodes must re-encode and decode to the same DataSetMessages.
//! The borrowing `NetworkMessageView` must accept exactly what `decode_with` accepts and yield
//! the same field values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uadp::{BuiltinType, DecodeOptions, NetworkMessage, NetworkMessageView};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a RawData layout so that the layout-driven paths are fuzzed too.
    let (selector, bytes) = match data.split_first() {
        Some((s, rest)) => (*s, rest),
        None => return,
    };
    let layout: Vec<BuiltinType> = (0..selector % 5)
        .map(|i| {
            BuiltinType::ALL[(usize::from(selector) + i as usize * 7) % BuiltinType::ALL.len()]
        })
        .collect();
    for options in [
        DecodeOptions::default(),
        DecodeOptions {
            raw_layout: Some(&layout),
            ..Default::default()
        },
    ] {
        let view = NetworkMessageView::decode(bytes, &options);
        let Ok(m) = NetworkMessage::decode_with(bytes, &options) else {
            assert!(view.is_err(), "the view accepts what decode_with refuses");
            continue;
        };
        let view = view.expect("the view accepts what decode_with accepts");
        assert_eq!(view.dataset_count(), m.dataset_messages().len());
        for (d, v) in m.dataset_messages().iter().zip(view.dataset_messages()) {
            let owned: Vec<_> = d.fields(options.raw_layout).collect();
            if owned.iter().all(|f| f.is_ok()) {
                let viewed: Vec<_> = v.values().collect();
                assert_eq!(viewed.len(), owned.len());
                for (a, b) in viewed.iter().zip(&owned) {
                    assert_eq!(Some(a), b.as_ref().ok());
                }
            }
        }
        if let Some(p) = &m.promoted_fields {
            for v in p.values() {
                let _ = v;
            }
        }
        let mut buf = vec![0u8; bytes.len() + 64];
        let n = m.encode(&mut buf).expect("a decoded message re-encodes");
        let again =
            NetworkMessage::decode_with(&buf[..n], &options).expect("re-encoded bytes decode");
        assert_eq!(again.dataset_messages(), m.dataset_messages());
    }
});
