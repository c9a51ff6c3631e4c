//! Head-office sync: upload the outbox, pull manifest and rate cards, schedule.
