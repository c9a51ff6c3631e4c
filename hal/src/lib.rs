//! intake-hal: the station's hardware — device traits, typed readings, real drivers and
//! simulators. No business rules live here: the station decides, the hal measures.
