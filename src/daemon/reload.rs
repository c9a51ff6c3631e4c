//! SIGHUP: read the configuration file again and put its rules in force from the next
//! parcel (limits, destinations, tolerance, waybill formats, rate card) through the store
//! actor, which orders it after the parcel in progress. A configuration that fails
//! validation is refused and logged; the one in force stays. Sections that need devices or
//! sockets reopened (`[scale]`, `[dimensions]`, `[camera]`, `[indicator]`, `[weighing]`,
//! `[web]`, `[sync]`, `[station]`) are named in the log as taking effect on restart.

use tokio::sync::watch;
use tracing::{error, info, warn};

use super::systemd;
use crate::config::{Settings, Source};
use crate::store::{Records, StartOptions};

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// In force from the next parcel: this version; `changed` when it differs from before.
    Applied {
        version: u64,
        changed: bool,
        /// Sections that changed but take effect only on restart.
        on_restart: Vec<&'static str>,
    },
    /// Refused: the old configuration stays.
    Refused(String),
}

/// Reloads on every SIGHUP counted by `hups` until the sender is gone.
pub async fn on_hangup(running: Settings, records: Records, mut hups: watch::Receiver<u64>) {
    while hups.changed().await.is_ok() {
        systemd::reloading();
        let line = match reload(&running, &records).await {
            Reloaded::Applied {
                version,
                changed,
                on_restart,
            } => {
                if !on_restart.is_empty() {
                    warn!(sections = %on_restart.join(", "),
                        "these sections changed and take effect only on restart: systemctl restart intake");
                }
                info!(
                    version,
                    changed, "configuration reloaded; in force from the next parcel"
                );
                format!("configuration reloaded: in force v{version}")
            }
            Reloaded::Refused(why) => {
                error!(error = %why, "configuration NOT reloaded; the one in force stays");
                format!("reload refused, old configuration stays: {why}")
            }
        };
        systemd::reloaded(&line);
    }
}

/// Reads the file `running` came from and applies what can be applied while running.
pub async fn reload(running: &Settings, records: &Records) -> Reloaded {
    let path = match &running.source {
        Source::File(p) => Some(p.clone()),
        Source::Embedded(_) => None,
    };
    let loaded = tokio::task::spawn_blocking(move || Settings::load(path.as_deref())).await;
    let new = match loaded {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Reloaded::Refused(e.to_string()),
        Err(e) => return Reloaded::Refused(format!("reload task failed: {e}")),
    };
    if new.station_id != running.station_id || new.data_dir != running.data_dir {
        return Reloaded::Refused(
            "station.id or station.data_dir changed: that needs a restart (systemctl restart intake)"
                .into(),
        );
    }
    let on_restart = restart_only_changes(running, &new);
    let mut options = StartOptions::from_settings(&new);
    // The devices keep the settings they were opened with until a restart: what is in
    // force (and counted) says so.
    options.policy.measuring = running.policy.measuring.clone();
    match records
        .apply_config(options, "configuration reloaded (SIGHUP)")
        .await
    {
        Ok((version, changed)) => Reloaded::Applied {
            version,
            changed,
            on_restart,
        },
        Err(e) => Reloaded::Refused(format!("the store did not take it: {e}")),
    }
}

/// The sections that differ between the running and the new configuration but are read
/// only at start.
fn restart_only_changes(a: &Settings, b: &Settings) -> Vec<&'static str> {
    // The settings types are compared through their Debug form: every field is printed.
    let differs =
        |x: &dyn std::fmt::Debug, y: &dyn std::fmt::Debug| format!("{x:?}") != format!("{y:?}");
    let mut out = Vec::new();
    for (name, changed) in [
        ("scale", differs(&a.scale, &b.scale)),
        ("dimensions", differs(&a.dimensions, &b.dimensions)),
        ("camera", differs(&a.camera, &b.camera)),
        ("barcode", differs(&a.barcode, &b.barcode)),
        ("indicator", differs(&a.indicator, &b.indicator)),
        ("weighing", differs(&a.station, &b.station)),
        ("web", differs(&a.web, &b.web)),
        ("sync", differs(&a.sync, &b.sync)),
        (
            "manifest",
            differs(&a.manifest_preload, &b.manifest_preload),
        ),
        ("sim", differs(&a.sim, &b.sim)),
    ] {
        if changed {
            out.push(name);
        }
    }
    out
}
