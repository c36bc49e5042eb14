//! Converter tests on captures built in memory.
