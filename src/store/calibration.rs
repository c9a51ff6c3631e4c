//! Calibrations and verifications in the store: numbered, immutable rows, each written with
//! its audit-chain entry by the store actor. The calibration in force is the newest one.

use intake_hal::quantity::{Length, Mass};
use intake_hal::range::Axis;
use jiff::Timestamp;
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Value, json};

use super::{Result, Store, StoreError, from_ms, ms};
use crate::measure::calibration::{Calibration, Measured, SensorBaseline};

/// A verification with a reference box, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub id: u64,
    pub at: Timestamp,
    /// The calibration in force when it was verified.
    pub calibration_number: Option<u64>,
    pub passed: bool,
    /// The declared box and weight, and the figures (see `intake verify --json`).
    pub report: Value,
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn sensors_json(sensors: &[SensorBaseline]) -> Value {
    Value::Array(
        sensors
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "axis": s.axis,
                    "baseline_um": s.baseline.micrometres(),
                    "spread_um": s.spread.micrometres(),
                })
            })
            .collect(),
    )
}

fn sensors_from(text: &str, number: u64) -> Result<Vec<SensorBaseline>> {
    let bad = || {
        corrupt(format!(
            "calibration {number}: its sensors are not readable"
        ))
    };
    let v: Value = serde_json::from_str(text).map_err(|_| bad())?;
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|s| {
            Some(SensorBaseline {
                name: s["name"].as_str()?.to_owned(),
                axis: serde_json::from_value::<Axis>(s["axis"].clone()).ok()?,
                baseline: Length::from_micrometres(s["baseline_um"].as_i64()?),
                spread: Length::from_micrometres(s["spread_um"].as_i64()?),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)
}

/// The canonical content of a calibration in the audit chain: every stored field, exact.
pub fn calibration_content(c: &Calibration) -> Value {
    json!({
        "number": c.number,
        "at_ms": ms(c.at),
        "source": c.source,
        "samples": c.measured.samples,
        "scale_zero_ug": c.measured.scale_zero.map(Mass::micrograms),
        "sensors": sensors_json(&c.measured.sensors),
    })
}

/// The canonical content of a verification in the audit chain.
pub fn verification_content(v: &Verification) -> Value {
    json!({
        "id": v.id,
        "at_ms": ms(v.at),
        "calibration_number": v.calibration_number,
        "passed": v.passed,
        "report": v.report,
    })
}

type CalRow = (i64, i64, String, i64, Option<i64>, String);

fn calibration_of(row: CalRow) -> Result<Calibration> {
    let (number, at, source, samples, zero, sensors) = row;
    let number = u64::try_from(number).unwrap_or(0);
    Ok(Calibration {
        number,
        at: from_ms(at)?,
        source,
        measured: Measured {
            samples: usize::try_from(samples).unwrap_or(0),
            sensors: sensors_from(&sensors, number)?,
            scale_zero: zero.map(Mass::from_micrograms),
        },
    })
}

const CAL_COLUMNS: &str = "number, at_ms, source, samples, scale_zero_ug, sensors";

impl Store {
    /// Stores a new calibration inside `tx`, numbered one above the last.
    pub(crate) fn insert_calibration_in(
        tx: &Transaction<'_>,
        measured: &Measured,
        source: &str,
        at: Timestamp,
    ) -> Result<Calibration> {
        let last: Option<i64> =
            tx.query_row("SELECT MAX(number) FROM calibrations", [], |r| r.get(0))?;
        let number = u64::try_from(last.unwrap_or(0) + 1).unwrap_or(1);
        let c = Calibration {
            number,
            at,
            source: source.to_owned(),
            measured: measured.clone(),
        };
        tx.execute(
            "INSERT INTO calibrations (number, at_ms, source, samples, scale_zero_ug, sensors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                to_i64(number),
                ms(at),
                source,
                i64::try_from(measured.samples).unwrap_or(i64::MAX),
                measured.scale_zero.map(Mass::micrograms),
                sensors_json(&measured.sensors).to_string()
            ],
        )?;
        Ok(c)
    }

    /// The calibration numbered `number`.
    pub fn calibration(&self, number: u64) -> Result<Option<Calibration>> {
        let sql = format!("SELECT {CAL_COLUMNS} FROM calibrations WHERE number = ?1");
        let row: Option<CalRow> = self
            .conn
            .query_row(&sql, [to_i64(number)], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()?;
        row.map(calibration_of).transpose()
    }

    /// The calibration in force: the newest.
    pub fn calibration_in_force(&self) -> Result<Option<Calibration>> {
        let last: Option<i64> =
            self.conn
                .query_row("SELECT MAX(number) FROM calibrations", [], |r| r.get(0))?;
        match last {
            Some(n) => self.calibration(u64::try_from(n).unwrap_or(0)),
            None => Ok(None),
        }
    }

    /// Stores a verification inside `tx`.
    pub(crate) fn insert_verification_in(
        tx: &Transaction<'_>,
        at: Timestamp,
        calibration_number: Option<u64>,
        passed: bool,
        report: &Value,
    ) -> Result<Verification> {
        let last: Option<i64> =
            tx.query_row("SELECT MAX(id) FROM verifications", [], |r| r.get(0))?;
        let id = u64::try_from(last.unwrap_or(0) + 1).unwrap_or(1);
        tx.execute(
            "INSERT INTO verifications (id, at_ms, calibration_number, passed, report)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                to_i64(id),
                ms(at),
                calibration_number.map(to_i64),
                passed,
                report.to_string()
            ],
        )?;
        Ok(Verification {
            id,
            at,
            calibration_number,
            passed,
            report: report.clone(),
        })
    }

    /// The verification numbered `id`.
    pub fn verification(&self, id: u64) -> Result<Option<Verification>> {
        type Row = (i64, Option<i64>, bool, String);
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT at_ms, calibration_number, passed, report FROM verifications WHERE id = ?1",
                [to_i64(id)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        row.map(|(at, cal, passed, report)| {
            Ok(Verification {
                id,
                at: from_ms(at)?,
                calibration_number: cal.map(|n| u64::try_from(n).unwrap_or(0)),
                passed,
                report: serde_json::from_str(&report)
                    .map_err(|_| corrupt(format!("verification {id}: its report is not JSON")))?,
            })
        })
        .transpose()
    }

    /// When the station was last verified with a reference box, and whether it passed.
    pub fn last_verification(&self) -> Result<Option<(Timestamp, bool)>> {
        let row: Option<(i64, bool)> = self
            .conn
            .query_row(
                "SELECT at_ms, passed FROM verifications ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(at, passed)| Ok((from_ms(at)?, passed)))
            .transpose()
    }

    /// The numbers of every calibration row, and the ids of every verification row (for
    /// the audit walk: a row no entry covers was inserted behind intake's back).
    pub(super) fn calibration_and_verification_ids(&self) -> Result<(Vec<u64>, Vec<u64>)> {
        let ids = |sql: &str| -> Result<Vec<u64>> {
            let mut s = self.conn.prepare(sql)?;
            let v = s
                .query_map([], |r| r.get::<_, i64>(0))?
                .map(|r| r.map(|n| u64::try_from(n).unwrap_or(0)))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        };
        Ok((
            ids("SELECT number FROM calibrations ORDER BY number")?,
            ids("SELECT id FROM verifications ORDER BY id")?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(top_mm: i64) -> Measured {
        Measured {
            samples: 25,
            sensors: vec![SensorBaseline {
                name: "top".into(),
                axis: Axis::Z,
                baseline: Length::from_mm(top_mm),
                spread: Length::from_micrometres(1_500),
            }],
            scale_zero: Some(Mass::ZERO),
        }
    }

    #[test]
    fn numbers_only_grow_and_rows_are_immutable() {
        let mut st = Store::open_in_memory().unwrap();
        assert!(st.calibration_in_force().unwrap().is_none());
        let at = Timestamp::from_millisecond(1_700_000_000_000).unwrap();
        for (i, mm) in [1200, 1198].into_iter().enumerate() {
            let tx = st.conn.transaction().unwrap();
            let c = Store::insert_calibration_in(&tx, &measured(mm), "test", at).unwrap();
            tx.commit().unwrap();
            assert_eq!(c.number, i as u64 + 1);
        }
        let now = st.calibration_in_force().unwrap().unwrap();
        assert_eq!(now.number, 2);
        assert_eq!(now.baseline("top"), Some(Length::from_mm(1198)));
        assert_eq!(st.calibration(1).unwrap().unwrap().measured, measured(1200));
        assert!(
            st.conn
                .execute("UPDATE calibrations SET samples = 1", [])
                .is_err()
        );
        assert!(st.conn.execute("DELETE FROM calibrations", []).is_err());
        assert!(st.last_verification().unwrap().is_none());
        let tx = st.conn.transaction().unwrap();
        Store::insert_verification_in(&tx, at, Some(2), true, &json!({"count": 3})).unwrap();
        tx.commit().unwrap();
        assert_eq!(st.last_verification().unwrap(), Some((at, true)));
        assert_eq!(st.verification(1).unwrap().unwrap().report["count"], 3);
    }
}
