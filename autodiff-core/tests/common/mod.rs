//! What the engine's test binaries share: one random number generator, one finite-difference
//! check and one random-program generator.
// Each test binary uses a part of this module.
#![allow(dead_code)]

pub mod fd;
pub mod programs;
pub mod rng;
