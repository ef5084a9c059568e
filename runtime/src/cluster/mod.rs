//! The processes of `backend = timely` loops (feature `timely`): the cluster from the
//! environment, started at the first such loop and reused by later ones, and
//! [`run_local`], which starts a cluster of local processes from a program.
//!
//! Every process runs the same program (SPMD, as with MPI): each `backend = timely`
//! loop is a collective that every process reaches in the same order and that ends
//! with the same result everywhere. The cluster is fail-stop: a process that dies,
//! never connects or reaches a different loop makes the others fail (within
//! `BOUNDED_CONNECT_TIMEOUT`) with a message naming the loop and the process, and
//! every later `backend = timely` loop of the process fails with it too.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `BOUNDED_PROCESSES` | processes in the cluster | 1 |
//! | `BOUNDED_PROCESS` | this process, `0 … N-1` | 0 |
//! | `BOUNDED_HOSTS` | `host:port,host:port,…`, one per process | `localhost:2101`, `:2102`, … |
//! | `BOUNDED_HOSTFILE` | a file with one `host:port` a line (instead of `BOUNDED_HOSTS`) | |
//! | `BOUNDED_WORKERS` | worker threads per process | the first loop's `limit`, else the CPUs |
//! | `BOUNDED_CONNECT_TIMEOUT` | seconds to wait for every peer | 30 |

#[cfg(feature = "timely")]
mod exchange;
#[cfg(feature = "timely")]
mod launch;
mod part;
#[cfg(feature = "timely")]
mod start;

#[cfg(feature = "timely")]
pub(crate) use exchange::LoopJob;
#[cfg(feature = "timely")]
pub use launch::{run_local, Launch, Launched, Member, MemberOutput, Role};
pub use part::{Carry, Part};
#[cfg(feature = "timely")]
pub use start::shutdown;
#[cfg(feature = "timely")]
pub(crate) use start::{cluster, panic_message};

/// The error type of a `backend = timely` loop that cannot fail: no value, and
/// serializable, which `Infallible` is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "timely", derive(serde::Serialize, serde::Deserialize))]
pub enum Never {}
