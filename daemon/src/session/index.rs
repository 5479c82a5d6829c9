//! A sparse seq → byte-offset index of one journal, so that a replay after seq N (an attach
//! with `after_seq`, a resync after `lagged`, a `session.history` page) starts reading near
//! N instead of at the first line. Built while the journal is loaded and kept up to date
//! by every append; one entry per [`STRIDE`] seqs keeps it small (a 100,000-event journal
//! holds about 400 entries), at the price of reading up to `STRIDE` lines too many.

/// Seqs between two index entries.
pub const STRIDE: u64 = 256;

/// Offsets of journal lines by seq, in increasing order of both.
#[derive(Debug, Default)]
pub struct SeqIndex {
    /// `(seq, offset of the line's first byte)`, seq strictly increasing.
    entries: Vec<(u64, u64)>,
    /// The highest seq noted (indexed or not).
    last_seq: u64,
}

impl SeqIndex {
    /// Notes that the line of `seq` starts at `offset`. Seqs that do not increase are
    /// ignored, as readers skip those lines too.
    pub fn note(&mut self, seq: u64, offset: u64) {
        if seq <= self.last_seq {
            return;
        }
        self.last_seq = seq;
        if self.entries.last().is_none_or(|&(s, _)| seq - s >= STRIDE) {
            self.entries.push((seq, offset));
        }
    }

    /// Where a reader looking for the events after `after_seq` may start: the offset of an
    /// indexed line whose seq is at most `after_seq`, or 0. Every line before it has a
    /// lower seq (journal lines that break the order are skipped by readers anyway).
    pub fn start_for(&self, after_seq: u64) -> u64 {
        let i = self.entries.partition_point(|&(s, _)| s <= after_seq);
        match i {
            0 => 0,
            _ => self.entries[i - 1].1,
        }
    }

    /// Number of entries (for tests and the memory budget).
    pub fn entries(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_last_indexed_line_not_after_the_seq() {
        let mut index = SeqIndex::default();
        for seq in 1..=1000 {
            index.note(seq, seq * 10);
        }
        assert_eq!(index.entries(), 4); // 1, 257, 513, 769
        assert_eq!(index.start_for(0), 0);
        assert_eq!(index.start_for(1), 10);
        assert_eq!(index.start_for(256), 10);
        assert_eq!(index.start_for(257), 2570);
        assert_eq!(index.start_for(999), 7690);
    }

    #[test]
    fn seqs_that_do_not_increase_are_not_indexed() {
        let mut index = SeqIndex::default();
        index.note(5, 0);
        index.note(3, 100);
        index.note(5 + STRIDE, 200);
        assert_eq!(index.start_for(4), 0);
        assert_eq!(index.start_for(5 + STRIDE), 200);
    }
}
