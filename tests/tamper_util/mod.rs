//! Editing a station's SQLite file as an attacker would: the immutability triggers dropped,
//! the SQL run, the triggers put back so the schema looks untouched.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::Path;

use rusqlite::Connection;

pub fn tamper(db: &Path, sql: &str) {
    let c = Connection::open(db).unwrap();
    c.execute_batch("PRAGMA foreign_keys = OFF;").unwrap();
    let triggers: Vec<(String, String)> = c
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (name, _) in &triggers {
        c.execute_batch(&format!("DROP TRIGGER {name};")).unwrap();
    }
    c.execute_batch(sql).unwrap();
    for (_, sql) in &triggers {
        c.execute_batch(&format!("{sql};")).unwrap();
    }
}
