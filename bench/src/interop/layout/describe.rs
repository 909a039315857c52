//! The text a layout prints about itself: where one-way timing comes from and a one-item-per-line
//! description.

use super::Layout;
use crate::interop::mask::NetworkMessageContentMask as N;

impl Layout {
    /// Where one-way timing comes from with this layout (printed with the results).
    pub fn timing_source(&self) -> String {
        match (self.send_time_field(), self.sequence_source()) {
            (Some(i), _) => format!(
                "send time rides in field #{i} (CLOCK_MONOTONIC ns): a subscriber on this \
                 host measures latency with --send-time-field {i}"
            ),
            (None, Some(seq)) => format!(
                "the benchmark's timing data cannot ride in these fields: timing comes from \
                 the {seq} and this publisher's send log (join on it)"
            ),
            (None, None) => "no send time and no sequence number on the wire: only arrival \
                             times can be measured (add SequenceNumber to \
                             --dataset-message, or a UInt64=mono-ns field)"
                .into(),
        }
    }

    /// Human-readable description, one item per line.
    pub fn describe(&self) -> Vec<String> {
        let writers: Vec<String> = self.writer_ids.iter().map(u16::to_string).collect();
        let fields: Vec<String> = self.fields.iter().map(ToString::to_string).collect();
        let nm = self.network_message;
        let off = |on: bool| if on { "" } else { " (not on the wire)" };
        let mut lines = Vec::new();
        if let Some(p) = self.preset {
            lines.push(format!("preset:         {p} ({})", p.origin()));
        }
        lines.push(format!(
            "identity:       PublisherId {}{}, WriterGroupId {}{}, DataSetWriterId {}{}",
            self.publisher_id,
            off(nm.contains(N::PUBLISHER_ID)),
            self.writer_group_id,
            off(nm.contains(N::GROUP_HEADER) && nm.contains(N::WRITER_GROUP_ID)),
            writers.join(","),
            off(nm.contains(N::PAYLOAD_HEADER)),
        ));
        lines.push(format!("NetworkMessage: {}", self.network_message));
        lines.push(format!(
            "DataSetMessage: {}, {:?} key frames, ConfigurationVersion {}",
            self.dataset_message, self.encoding, self.config_version
        ));
        lines.push(format!("fields:         {}", fields.join(",")));
        lines
    }
}

#[cfg(test)]
mod tests {
    use crate::interop::preset::Preset;

    #[test]
    fn timing_source_is_stated() {
        let l = Preset::SdkTutorial.layout();
        assert!(l.timing_source().contains("only arrival times"));
        let l = Preset::PeriodicFixed.layout();
        assert!(l
            .timing_source()
            .contains("DataSetMessage SequenceNumber and this publisher's send log"));
        let mut l = Preset::Dynamic.layout();
        l.fields.push("UInt64=mono-ns".parse().unwrap());
        assert!(l.timing_source().contains("field #4"));
    }
}
