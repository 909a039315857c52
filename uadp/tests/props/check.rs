//! The decoding checks the property tests share: the borrowing view against `decode_with`, and
//! field values compared one by one.

use proptest::prelude::*;
use uadp::*;

/// The fast path agrees with the general one: [`NetworkMessageView::decode`] accepts exactly
/// what [`NetworkMessage::decode_with`] accepts, with the same error, gives the same message, and
/// its value iterators yield what `fields()` yields.
pub fn check_view(bytes: &[u8], options: &DecodeOptions<'_>) -> Result<(), TestCaseError> {
    let general = NetworkMessage::decode_with(bytes, options);
    let view = NetworkMessageView::decode(bytes, options);
    let (m, v) = match (general, view) {
        (Err(a), Err(b)) => {
            prop_assert_eq!(a, b);
            return Ok(());
        }
        (Ok(m), Ok(v)) => (m, v),
        (a, b) => {
            return Err(TestCaseError::fail(format!(
                "decode_with and the view disagree: {:?} / {:?}",
                a.map(|_| ()),
                b.map(|_| ())
            )))
        }
    };
    prop_assert_eq!(&v.to_message(), &m);
    prop_assert_eq!(v.header(), m.header());
    prop_assert_eq!(v.publisher_id(), m.publisher_id);
    prop_assert_eq!(v.dataset_class_id(), m.dataset_class_id);
    prop_assert_eq!(v.group_header(), m.group_header);
    prop_assert_eq!(v.payload_header(), m.payload_header);
    prop_assert_eq!(v.timestamp(), m.timestamp);
    prop_assert_eq!(v.picoseconds(), m.picoseconds);
    prop_assert_eq!(v.promoted_fields(), m.promoted_fields);
    prop_assert_eq!(v.security(), m.security);
    prop_assert_eq!(v.security_trailer(), m.security_trailer);
    prop_assert_eq!(v.padding(), m.padding);
    prop_assert_eq!(v.bytes(), bytes);
    match &m.payload {
        Payload::Encrypted { writer_ids, bytes } => {
            prop_assert_eq!(v.encrypted_payload(), Some((*writer_ids, *bytes)));
        }
        Payload::DataSetMessages(_) => prop_assert_eq!(v.encrypted_payload(), None),
    }
    prop_assert_eq!(v.dataset_count(), m.dataset_messages().len());
    prop_assert_eq!(v.dataset_messages().len(), m.dataset_messages().len());
    prop_assert_eq!(v.dataset_messages().count(), m.dataset_messages().len());
    for (i, (dv, d)) in v.dataset_messages().zip(m.dataset_messages()).enumerate() {
        prop_assert_eq!(v.dataset_message(i), Some(dv));
        prop_assert_eq!(&dv.message(), d);
        prop_assert_eq!(dv.writer_id(), d.writer_id);
        prop_assert_eq!(dv.header(), d.header);
        prop_assert_eq!(dv.sequence_number(), d.header.sequence_number);
        prop_assert_eq!(dv.field_encoding(), d.header.field_encoding);
        prop_assert_eq!(dv.message_type(), d.header.message_type);
        prop_assert_eq!(dv.fields(), d.fields);
        let layout = dv.layout();
        prop_assert_eq!(layout, options.layout_for_test(d.writer_id));
        let general: Vec<Result<Field<'_>, DecodeError>> = d.fields(layout).collect();
        let errors = general.iter().filter(|f| f.is_err()).count();
        prop_assert_eq!(dv.missing_layout(), errors > 0, "{:?}", general);
        let values: Vec<Field<'_>> = dv.values().collect();
        prop_assert_eq!(dv.values().len(), values.len());
        prop_assert_eq!(dv.field_count(), values.len());
        let folded: Vec<Field<'_>> = dv.values().fold(Vec::new(), |mut acc, f| {
            acc.push(f);
            acc
        });
        prop_assert_eq!(&folded, &values);
        if errors == 0 {
            let want: Vec<Field<'_>> = general.into_iter().map(|f| f.expect("no error")).collect();
            prop_assert_eq!(values.len(), want.len());
            for (g, w) in values.iter().zip(&want) {
                prop_assert_eq!(g.index, w.index);
                assert_same_value(&g.value, &w.value)?;
            }
        } else {
            prop_assert!(values.is_empty());
        }
        let raw: Vec<Scalar<'_>> = dv.raw_values().collect();
        let raw_folded: Vec<Scalar<'_>> = dv.raw_values().fold(Vec::new(), |mut acc, s| {
            acc.push(s);
            acc
        });
        prop_assert_eq!(&raw_folded, &raw);
        let raw_key = d.header.field_encoding == FieldEncoding::RawData
            && matches!(
                d.header.message_type,
                DataSetMessageType::KeyFrame | DataSetMessageType::Event
            )
            && layout.is_some();
        if raw_key {
            let want: Vec<Scalar<'_>> = values
                .iter()
                .map(|f| match f.value {
                    FieldValue::Raw(s) => s,
                    other => panic!("a RawData field decoded as {other:?}"),
                })
                .collect();
            prop_assert_eq!(raw, want);
        } else {
            prop_assert!(raw.is_empty());
        }
    }
    prop_assert_eq!(v.dataset_message(v.dataset_count()), None);
    Ok(())
}

/// What `DecodeOptions` gives a DataSetMessage (its private `layout_for`, restated).
pub trait LayoutFor<'l> {
    fn layout_for_test(&self, writer_id: Option<u16>) -> Option<&'l [BuiltinType]>;
}

impl<'l> LayoutFor<'l> for DecodeOptions<'l> {
    fn layout_for_test(&self, writer_id: Option<u16>) -> Option<&'l [BuiltinType]> {
        writer_id
            .and_then(|id| {
                self.raw_layouts_by_writer
                    .iter()
                    .find(|(w, _)| *w == id)
                    .map(|(_, l)| *l)
            })
            .or(self.raw_layout)
    }
}

/// Values compare structurally; arrays compare by their decoded elements.
pub fn assert_same_value(got: &FieldValue<'_>, want: &FieldValue<'_>) -> Result<(), TestCaseError> {
    prop_assert_eq!(got, want);
    if let (FieldValue::Variant(Variant::Array(g)), FieldValue::Variant(Variant::Array(w))) =
        (got, want)
    {
        let gv: Vec<_> = g.values().collect::<Result<_, _>>().expect("array values");
        let wv: Vec<_> = w.values().collect::<Result<_, _>>().expect("array values");
        prop_assert_eq!(gv, wv);
        prop_assert_eq!(
            g.dimension_values().collect::<Vec<_>>(),
            w.dimension_values().collect::<Vec<_>>()
        );
    }
    Ok(())
}
