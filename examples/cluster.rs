//! The same annotated loops on a cluster of local processes: `cargo run --release
//! --example cluster --features timely` starts two processes of this program, which
//! run the loops together and print the same answers.

use std::collections::BTreeSet;

use bounded::bounded;
use bounded::cluster::{run_local, Role};

/// The sum of squares below `n`, and which processes ran items.
#[bounded(backend = timely, reduce(total: +, seen: merge))]
fn sum_of_squares(n: u64) -> (u64, BTreeSet<u32>) {
    let mut total = 0;
    let mut seen = BTreeSet::new();
    for x in 0..n {
        total += x * x;
        seen.insert(std::process::id());
    }
    (total, seen)
}

fn main() {
    let member = match run_local(2, 1) {
        Role::Launcher(done) => {
            for (p, m) in done.members.iter().enumerate() {
                print!("{}", m.stdout);
                eprint!("{}", m.stderr);
                if !m.status.is_some_and(|s| s.success()) {
                    eprintln!("process {p} failed: {:?}", m.status);
                }
            }
            std::process::exit(if done.success() { 0 } else { 1 });
        }
        Role::Member(member) => member,
    };
    let (total, seen) = sum_of_squares(1_000_000);
    println!(
        "process {}: sum of squares below 10^6 = {total}, computed by {} processes",
        member.process,
        seen.len()
    );
}
