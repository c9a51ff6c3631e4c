//! The simulated dock: a seeded parcel generator and the world the simulated devices see.
