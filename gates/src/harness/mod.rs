//! The gate harness: the gate model ([`gate`]); running a registry of gates ([`runner`], saying
//! so as it goes in [`progress`], spreading work over threads with [`pool`], sharing inputs with
//! [`shared`], keeping the copies on a [`scratch`]); the signed in-toto report ([`report`],
//! [`dsse`], [`keys`], replay checks in [`freshness`], what `verify` accepts of a gate or conform report in
//! [`acceptance`]);
//! the outputs for people and CI ([`junit`], [`summary`]); the release checkpoint against the
//! Hypervisor ([`sister`]); and the programs gates run as real processes ([`bins`]).

pub mod acceptance;
pub mod bins;
pub mod dsse;
pub mod freshness;
pub mod gate;
pub mod junit;
pub mod keys;
pub mod pool;
pub mod progress;
pub mod report;
pub mod runner;
pub mod scratch;
pub mod shared;
pub mod sister;
pub mod summary;
