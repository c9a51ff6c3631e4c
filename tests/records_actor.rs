//! The store actor on a real SQLite file: the one writer under concurrent commands, its
//! numbered events (a subscriber made to lag catches up from the store, in order), what is
//! in force and its versions, every re-judge trigger, and the data folder's lock.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use intake::config::Settings;
use intake::decide::ResolutionRequest;
use intake::judge::{Measurement, WaybillRead};
use intake::manifest::ManifestEntry;
use intake::quantity::Money;
use intake::rules::{Disposition, Duties, Reason};
use intake::station::Finished;
use intake::store::actor::{Owner, ResolveFailed};
use intake::store::{Event, EventKind, Records, StartOptions, Store, StoreError};
use jiff::{SignedDuration, Timestamp};

struct Fixture {
    /// Keeps the data folder for the test's life.
    _dir: tempfile::TempDir,
    settings: Settings,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::load(None).unwrap();
        settings.data_dir = dir.path().join("data");
        Fixture {
            _dir: dir,
            settings,
        }
    }

    fn open(&self, buffer: usize) -> (Records, Owner) {
        let mut opts = StartOptions::from_settings(&self.settings);
        opts.event_buffer = buffer;
        Records::open(&self.settings.data_dir, &self.settings.db_path(), opts).unwrap()
    }

    fn reader(&self) -> Store {
        Store::open_read_only(&self.settings.db_path()).unwrap()
    }
}

fn finished(parcel: u64, waybill: &str, weight: &str) -> Box<Finished> {
    Box::new(Finished {
        parcel,
        measurement: Measurement {
            weight: Ok(weight.parse().unwrap()),
            dims: Ok("12x10x8 in".parse().unwrap()),
            waybill: WaybillRead::Read(waybill.into()),
        },
        extra_reasons: vec![],
        notes: vec![],
        timings: Default::default(),
    })
}

fn entry(waybill: &str, to: &str, id: bool, duties: Duties) -> ManifestEntry {
    ManifestEntry {
        waybill: waybill.into(),
        destination: to.parse().unwrap(),
        declared_weight: None,
        declared_dims: None,
        quoted_price: Some(Money::from_cents(2000)),
        consignee_id_on_file: id,
        duties,
    }
}

/// Valid S10 numbers of our own (serial `n`, origin US).
fn waybill(n: u32) -> String {
    let serial = format!("{:08}", 10_000_000 + n);
    let mut d = [0u8; 8];
    d.copy_from_slice(serial.as_bytes());
    format!("QQ{serial}{}US", intake::waybill::s10_check_digit(&d))
}

fn seqs(evs: &[Arc<Event>]) -> Vec<u64> {
    evs.iter().map(|e| e.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_one_order_and_a_lagging_subscriber_misses_nothing() {
    let fx = Fixture::new();
    // A tiny buffer, so the slow subscriber really falls behind the broadcast.
    let (records, owner) = fx.open(4);
    let start = records.head();
    let mut eager = records.subscribe();
    let mut slow = records.subscribe();

    // Parcels committing at full pace, an operator resolving, sync delivering: all at once,
    // from different tasks and threads.
    let wbs: Vec<String> = (0..60).map(waybill).collect();
    let entries: Vec<ManifestEntry> = wbs
        .iter()
        .map(|w| entry(w, "JP", false, Duties::NotApplicable))
        .collect();
    records
        .import_manifest(entries, "test")
        .await
        .expect("manifest");
    let r = records.clone();
    let commits = tokio::spawn(async move {
        let mut ids = Vec::new();
        for (i, w) in (0..60).map(waybill).enumerate() {
            // Every fifth parcel is over the weight limit: an exception to resolve.
            let weight = if i % 5 == 0 { "50 lb" } else { "3 lb" };
            let c = r.commit(finished(i as u64, &w, weight)).await.unwrap();
            ids.push((c.record.id.clone(), c.record.disposition, c.event));
        }
        ids
    });
    let r = records.clone();
    let deliveries = tokio::task::spawn_blocking(move || {
        let mut delivered = 0;
        for _ in 0..40 {
            let rows = r.read(|st| st.pending_outbox(0, 5)).wait().unwrap();
            let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
            delivered += r.mark_delivered(seqs, Timestamp::now()).wait().unwrap();
        }
        delivered
    });
    let eager_task = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 60 {
            got.push(eager.next().await.unwrap());
        }
        (got, eager)
    });
    let committed = commits.await.unwrap();
    let mut resolved = 0;
    for (id, d, _) in &committed {
        if *d == Disposition::ReturnToSender {
            let r = records
                .resolve(id, ResolutionRequest::Confirm { note: None })
                .await
                .unwrap();
            assert_eq!(r.scan_id, *id);
            resolved += 1;
        }
    }
    assert_eq!(resolved, 12);
    let delivered = deliveries.await.unwrap();
    assert!(delivered > 0);
    let (mut got, mut eager) = eager_task.await.unwrap();

    // Everything that happened, as the store numbered it.
    let head = records.head();
    let stored = fx.reader().events_since(start, usize::MAX).unwrap();
    assert_eq!(stored.len() as u64, head - start);
    assert!(
        stored.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "consecutive numbers"
    );
    let scans = stored
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ScanCommitted(_)))
        .count();
    let resolutions = stored
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ResolutionRecorded(_)))
        .count();
    assert_eq!((scans, resolutions), (60, 12));
    // Each commit's answer names its event.
    for (id, _, seq) in &committed {
        assert!(
            matches!(&stored[(seq - start - 1) as usize].kind, EventKind::ScanCommitted(s) if s.id == *id)
        );
    }

    // The eager subscriber and the one made to lag both saw every event once, in order.
    while (got.len() as u64) < head - start {
        got.push(eager.next().await.unwrap());
    }
    let mut late = Vec::new();
    while (late.len() as u64) < head - start {
        late.push(
            tokio::time::timeout(Duration::from_secs(10), slow.next())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let expected: Vec<u64> = (start + 1..=head).collect();
    assert_eq!(seqs(&got), expected);
    assert_eq!(seqs(&late), expected);
    assert_eq!(
        late.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        stored.into_iter().map(|e| e.kind).collect::<Vec<_>>()
    );
    // A subscriber that starts after the fact replays from the store.
    let mut replay = records.subscribe_after(start);
    assert_eq!(replay.next().await.unwrap().seq, start + 1);
    assert_eq!(fx.reader().integrity_check().unwrap(), Ok(()));
    drop(records);
    assert_eq!(
        tokio::task::spawn_blocking(move || owner.stop())
            .await
            .unwrap(),
        0
    );
}

#[test]
fn a_second_writer_on_the_same_data_folder_is_refused_with_the_lock_named() {
    let fx = Fixture::new();
    let (_records, owner) = fx.open(16);
    let err = Records::open(
        &fx.settings.data_dir,
        &fx.settings.db_path(),
        StartOptions::from_settings(&fx.settings),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("intake.lock"), "{text}");
    assert!(text.contains(&std::process::id().to_string()), "{text}");
    owner.stop();
    // Released on stop: the next one opens.
    let (_r, owner) = fx.open(16);
    owner.stop();
}

#[test]
fn what_is_in_force_is_versioned_and_every_scan_records_its_version() {
    let fx = Fixture::new();
    let (records, owner) = fx.open(16);
    let v1 = records.in_force().version;
    assert_eq!(v1, 1);
    let w = waybill(1);
    records
        .import_manifest(vec![entry(&w, "JP", false, Duties::NotApplicable)], "t")
        .wait()
        .unwrap();
    let first = records.commit(finished(1, &w, "3 lb")).wait().unwrap();
    assert_eq!(first.record.in_force_version, Some(v1));

    // Head office sends a dearer card: a new version, priced with from the next parcel.
    let card = String::from_utf8(fx.settings.rate_card_source.read().unwrap())
        .unwrap()
        .replace("sample-2026-11", "hq-dear")
        .replace("first = \"14.00\"", "first = \"40.00\"");
    let applied = records.apply_rate_card(card.clone()).wait().unwrap();
    assert!(applied.changed);
    assert_eq!(records.in_force().version, v1 + 1);
    let second = records.commit(finished(2, &w, "3 lb")).wait().unwrap();
    assert_eq!(second.record.in_force_version, Some(v1 + 1));
    assert_eq!(second.record.rate_card_version.as_deref(), Some("hq-dear"));
    assert!(second.record.price > first.record.price);
    // The same card again changes nothing; a broken one is kept out.
    assert!(!records.apply_rate_card(card).wait().unwrap().changed);
    assert!(
        records
            .apply_rate_card("version = 1".into())
            .wait()
            .is_err()
    );
    assert_eq!(records.in_force().version, v1 + 1);
    owner.stop();

    // Across a restart with the same config, the pulled card stays in force.
    let (records, owner) = fx.open(16);
    assert_eq!(records.in_force().version, v1 + 1);
    assert_eq!(records.in_force().policy.card.version, "hq-dear");
    owner.stop();
    let st = fx.reader();
    assert_eq!(
        st.in_force().unwrap().unwrap().policy.card.version,
        "hq-dear"
    );

    // A new card in the configuration is newer than the pulled one: it wins.
    let mut fx2 = fx;
    fx2.settings.policy.card.version = "config-2027".into();
    let (records, owner) = fx2.open(16);
    assert_eq!(records.in_force().version, v1 + 2);
    assert_eq!(records.in_force().policy.card.version, "config-2027");
    owner.stop();
}

#[test]
fn every_rejudge_trigger_makes_one_resolution_and_the_scan_stays_as_it_was() {
    let fx = Fixture::new();
    let (records, owner) = fx.open(64);
    let (unknown, id_wb, duty_wb, old_duty) = (waybill(10), waybill(11), waybill(12), waybill(13));
    records
        .import_manifest(
            vec![
                entry(&id_wb, "CN", false, Duties::NotApplicable),
                entry(&duty_wb, "JP", false, Duties::Unpaid),
                entry(&old_duty, "JP", false, Duties::Unpaid),
            ],
            "t",
        )
        .wait()
        .unwrap();
    let commit = |p, w: &str| {
        records
            .commit(finished(p, w, "3 lb"))
            .wait()
            .unwrap()
            .record
    };
    let s_unknown = commit(1, &unknown);
    let s_id = commit(2, &id_wb);
    let s_duty = commit(3, &duty_wb);
    let s_old = commit(4, &old_duty);
    assert!(s_unknown.reasons.contains(&Reason::UnknownWaybill));
    assert_eq!(s_id.disposition, Disposition::Hold);
    assert!(s_id.reasons.contains(&Reason::IdRequired));
    assert_eq!(s_duty.disposition, Disposition::Hold);

    // The manifest entry arrives, the consignee's ID arrives, the duties are paid.
    let applied = records
        .apply_manifest_page(
            vec![
                entry(&unknown, "JP", false, Duties::NotApplicable),
                entry(&id_wb, "CN", true, Duties::NotApplicable),
                entry(&duty_wb, "JP", false, Duties::Paid),
            ],
            "c1",
        )
        .wait()
        .unwrap();
    let by_scan = |id: &str| {
        applied
            .rejudged
            .iter()
            .find(|r| r.scan_id == id)
            .unwrap_or_else(|| panic!("{id} not judged again: {:?}", applied.rejudged))
            .clone()
    };
    assert_eq!(applied.rejudged.len(), 3);
    let r = by_scan(&s_unknown.id);
    assert!(!r.reasons.contains(&Reason::UnknownWaybill));
    assert!(
        r.note
            .as_deref()
            .unwrap()
            .contains("manifest entry arrived")
    );
    let r = by_scan(&s_id.id);
    assert_ne!(r.disposition, Some(Disposition::Hold));
    assert!(r.note.as_deref().unwrap().contains("ID is now on file"));
    let r = by_scan(&s_duty.id);
    assert_ne!(r.disposition, Some(Disposition::Hold));
    // The same entries again: nothing new. The scan rows are untouched.
    let again = records
        .apply_manifest_page(vec![entry(&id_wb, "CN", true, Duties::NotApplicable)], "c2")
        .wait()
        .unwrap();
    assert!(again.rejudged.is_empty());
    let st = fx.reader();
    assert_eq!(st.scan(&s_id.id).unwrap().unwrap(), s_id);
    assert_eq!(st.manifest_cursor().unwrap().as_deref(), Some("c2"));

    // Duties never paid: held until 30 days after intake, then returned, once.
    let day = |n: i64| s_old.created_at + SignedDuration::from_hours(24 * n);
    assert!(records.check_duties(day(29)).wait().unwrap().is_empty());
    let back = records.check_duties(day(30)).wait().unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].scan_id, s_old.id);
    assert_eq!(back[0].disposition, Some(Disposition::ReturnToSender));
    assert!(records.check_duties(day(31)).wait().unwrap().is_empty());

    // Each re-judgement is a record for head office too.
    let pending: BTreeSet<String> = st
        .pending_outbox(0, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.record_id)
        .collect();
    assert!(applied.rejudged.iter().all(|r| pending.contains(&r.id)));
    assert!(pending.contains(&back[0].id));
    owner.stop();
}

#[test]
fn a_hold_is_released_by_the_operator_only_with_a_reason() {
    let fx = Fixture::new();
    let (records, owner) = fx.open(16);
    let w = waybill(20);
    records
        .import_manifest(vec![entry(&w, "KR", false, Duties::NotApplicable)], "t")
        .wait()
        .unwrap();
    let held = records
        .commit(finished(1, &w, "3 lb"))
        .wait()
        .unwrap()
        .record;
    assert_eq!(held.disposition, Disposition::Hold);
    let err = records
        .resolve(
            &held.id,
            ResolutionRequest::Release {
                reason: "  ".into(),
            },
        )
        .wait()
        .unwrap_err();
    assert!(matches!(err, ResolveFailed::Refused(_)), "{err}");
    let r = records
        .resolve(
            &held.id,
            ResolutionRequest::Release {
                reason: "ID seen at the counter by J. Doe".into(),
            },
        )
        .wait()
        .unwrap();
    assert_ne!(r.disposition, Some(Disposition::Hold));
    assert!(r.note.unwrap().contains("J. Doe"));
    // Released: no longer a hold to release.
    let err = records
        .resolve(
            &held.id,
            ResolutionRequest::Release {
                reason: "again".into(),
            },
        )
        .wait()
        .unwrap_err();
    assert!(err.to_string().contains("not on hold"), "{err}");
    let err = records
        .resolve("no-such-scan", ResolutionRequest::Confirm { note: None })
        .wait()
        .unwrap_err();
    assert!(matches!(err, ResolveFailed::NoSuchScan(_)));
    owner.stop();
}

#[test]
fn billing_reprices_undelivered_scans_only_when_asked() {
    let fx = Fixture::new();
    let (records, owner) = fx.open(16);
    let w = waybill(30);
    records
        .import_manifest(vec![entry(&w, "JP", false, Duties::NotApplicable)], "t")
        .wait()
        .unwrap();
    let s = records
        .commit(finished(1, &w, "3 lb"))
        .wait()
        .unwrap()
        .record;
    let card = String::from_utf8(fx.settings.rate_card_source.read().unwrap())
        .unwrap()
        .replace("sample-2026-11", "hq-cheap")
        .replace("first = \"14.00\"", "first = \"1.00\"");
    records.apply_rate_card(card).wait().unwrap();
    // A new card alone never touches stored scans.
    assert!(fx.reader().resolutions_of(&s.id).unwrap().is_empty());
    let made = records.reprice(vec![s.id.clone()]).wait().unwrap();
    assert_eq!(made.len(), 1);
    assert!(made[0].note.as_deref().unwrap().contains("hq-cheap"));
    owner.stop();
}

#[test]
fn the_actor_survives_a_failed_command_and_keeps_serving() {
    let fx = Fixture::new();
    let (records, owner) = fx.open(16);
    let err = records
        .read(|_| -> Result<(), StoreError> { panic!("a bug in a read") })
        .wait()
        .unwrap_err();
    assert!(matches!(err, StoreError::Stopped), "{err}");
    // Still the one writer, still answering, nothing lost.
    let c = records
        .commit(finished(1, &waybill(40), "3 lb"))
        .wait()
        .unwrap();
    assert_eq!(fx.reader().scan(&c.record.id).unwrap().unwrap(), c.record);
    assert_eq!(owner.stop(), 0);
}

#[test]
fn a_reloaded_configuration_goes_in_force_from_the_next_parcel() {
    let fx = Fixture::new();
    let (records, owner) = fx.open(16);
    let w = waybill(50);
    records
        .import_manifest(vec![entry(&w, "JP", false, Duties::NotApplicable)], "t")
        .wait()
        .unwrap();
    let before = records.commit(finished(1, &w, "30 lb")).wait().unwrap();
    assert_ne!(before.record.disposition, Disposition::ReturnToSender);
    // Same configuration: nothing changes.
    let same = StartOptions::from_settings(&fx.settings);
    assert_eq!(
        records.apply_config(same, "reload").wait().unwrap(),
        (1, false)
    );
    // A lower weight limit: a new version, and the next parcel is judged with it.
    let mut stricter = StartOptions::from_settings(&fx.settings);
    stricter.policy.limits.max_weight = "20 lb".parse().unwrap();
    let (v, changed) = records
        .apply_config(stricter, "reload (SIGHUP)")
        .wait()
        .unwrap();
    assert_eq!((v, changed), (2, true));
    let after = records.commit(finished(2, &w, "30 lb")).wait().unwrap();
    assert_eq!(after.record.disposition, Disposition::ReturnToSender);
    assert_eq!(after.record.in_force_version, Some(2));
    owner.stop();
}
