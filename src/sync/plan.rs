//! What to send next, decided by pure functions (like atuin's `record/sync` diff): the
//! pending outbox rows and the batch limit in, batches in a stable order out; and after an
//! acknowledgement, which rows head office confirmed. No IO, no clock.

use std::collections::HashSet;

use crate::store::outbox::{OutboxRow, RecordKind};

/// One upload: outbox rows in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub rows: Vec<OutboxRow>,
}

impl Batch {
    /// The record ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.rows.iter().map(|r| r.record_id.as_str())
    }
}

/// Splits pending rows into batches of at most `max_records` (at least 1), in outbox order
/// (`seq`), each record once. The same input always gives the same batches.
pub fn plan_batches(pending: &[OutboxRow], max_records: usize) -> Vec<Batch> {
    let max = max_records.max(1);
    let mut rows: Vec<OutboxRow> = pending.to_vec();
    rows.sort_by_key(|r| r.seq);
    let mut seen = HashSet::new();
    rows.retain(|r| seen.insert(r.record_id.clone()));
    rows.chunks(max)
        .map(|c| Batch { rows: c.to_vec() })
        .collect()
}

/// What an acknowledgement means for a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Outbox rows head office confirmed holding: mark these delivered.
    pub delivered: Vec<i64>,
    /// Records sent but not confirmed: they stay pending and go again.
    pub unconfirmed: Vec<String>,
}

/// Matches head office's `held` ids against what was sent. Ids head office names that were
/// not in the batch are ignored: only what was sent can be confirmed.
pub fn reconcile(batch: &Batch, held: &[String]) -> Reconciled {
    let held: HashSet<&str> = held.iter().map(String::as_str).collect();
    let mut out = Reconciled::default();
    for r in &batch.rows {
        if held.contains(r.record_id.as_str()) {
            out.delivered.push(r.seq);
        } else {
            out.unconfirmed.push(r.record_id.clone());
        }
    }
    out
}

/// A summary of what would be sent (`intake sync --dry-run`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub scans: u64,
    pub resolutions: u64,
    pub batches: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
}

/// Summarises the batches a plan makes.
pub fn summarise(batches: &[Batch]) -> Summary {
    let mut s = Summary {
        batches: batches.len() as u64,
        ..Summary::default()
    };
    for r in batches.iter().flat_map(|b| &b.rows) {
        match r.kind {
            RecordKind::Scan => s.scans += 1,
            RecordKind::Resolution => s.resolutions += 1,
        }
        s.first_seq = Some(s.first_seq.map_or(r.seq, |f| f.min(r.seq)));
        s.last_seq = Some(s.last_seq.map_or(r.seq, |l| l.max(r.seq)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn row(seq: i64, id: &str, kind: RecordKind) -> OutboxRow {
        OutboxRow {
            seq,
            kind,
            record_id: id.into(),
            created_at: Timestamp::from_millisecond(seq * 1000).unwrap(),
        }
    }

    #[test]
    fn batches_keep_outbox_order_and_limit_and_are_stable() {
        let rows = vec![
            row(3, "c", RecordKind::Scan),
            row(1, "a", RecordKind::Scan),
            row(2, "b", RecordKind::Resolution),
            row(5, "e", RecordKind::Scan),
            row(4, "d", RecordKind::Scan),
        ];
        let b = plan_batches(&rows, 2);
        let ids: Vec<Vec<&str>> = b.iter().map(|b| b.ids().collect()).collect();
        assert_eq!(ids, vec![vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
        let mut reversed = rows.clone();
        reversed.reverse();
        assert_eq!(plan_batches(&reversed, 2), b, "input order does not matter");
        assert_eq!(
            plan_batches(&rows, 0).len(),
            5,
            "a zero limit means one per batch"
        );
        assert!(plan_batches(&[], 10).is_empty());
    }

    #[test]
    fn a_record_is_planned_once() {
        let rows = vec![row(1, "a", RecordKind::Scan), row(2, "a", RecordKind::Scan)];
        let b = plan_batches(&rows, 10);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].rows.len(), 1);
        assert_eq!(b[0].rows[0].seq, 1);
    }

    #[test]
    fn only_confirmed_rows_are_delivered() {
        let b = plan_batches(
            &[
                row(1, "a", RecordKind::Scan),
                row(2, "b", RecordKind::Scan),
                row(3, "c", RecordKind::Resolution),
            ],
            10,
        )
        .remove(0);
        let r = reconcile(&b, &["c".into(), "a".into(), "zz".into()]);
        assert_eq!(r.delivered, vec![1, 3]);
        assert_eq!(r.unconfirmed, vec!["b".to_string()]);
        let none = reconcile(&b, &[]);
        assert!(none.delivered.is_empty());
        assert_eq!(none.unconfirmed.len(), 3);
    }

    #[test]
    fn summary_counts_kinds_and_range() {
        let b = plan_batches(
            &[
                row(7, "a", RecordKind::Scan),
                row(9, "b", RecordKind::Resolution),
                row(8, "c", RecordKind::Scan),
            ],
            2,
        );
        let s = summarise(&b);
        assert_eq!(
            s,
            Summary {
                scans: 2,
                resolutions: 1,
                batches: 2,
                first_seq: Some(7),
                last_seq: Some(9)
            }
        );
        assert_eq!(summarise(&[]), Summary::default());
    }
}
