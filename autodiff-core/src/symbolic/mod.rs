//! The symbolic engine. (Being written.)
