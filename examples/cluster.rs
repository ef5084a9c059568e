//! The same annotated loops on a cluster of local processes: `cargo run --release
//! --example cluster --features timely` starts two processes of this program, which
//! run the loops together and print the same answers (process 0 also the word count).

use std::collections::{BTreeMap, BTreeSet};

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

/// Words and their counts: the lines are a pulled input, read on process 0 and sent
/// to the processes in batches; `merge` adds the counts of equal words.
#[bounded(backend = timely, batch = 2, reduce(counts: merge))]
fn word_count(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in text.lines().map(str::to_string) {
        for word in line.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_insert(0u64) += 1;
        }
    }
    counts
}

const TEXT: &str = "the same loop on every process
every process gets the same result
the loop is a collective
a process that dies makes the others fail
the others fail with the loop's name";

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
    let counts = word_count(TEXT);
    let mut top: Vec<(&String, &u64)> = counts.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if member.process == 0 {
        println!("process 0: the most frequent words: {:?}", &top[..4]);
    }
}
