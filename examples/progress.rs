//! A loop with a progress bar: `cargo run --example progress --features progress`.
//!
//! The bar is drawn on stderr only when stderr is a terminal; redirect it
//! (`2>log.txt`) and nothing is drawn. The inner loop of each item has no bar of its
//! own on screen: only the outermost loop draws.

use std::time::Duration;

use bounded::par_bounded;

fn main() {
    let items: Vec<u64> = (0..200).collect();
    let mut total = 0u64;
    par_bounded!(limit = 4, batch = 5, progress = "resize", reduce(total: +); for x in &items {
        std::thread::sleep(Duration::from_millis(10));
        let parts: Vec<u64> = (0..4).collect();
        // A nested loop with its own bar: it stays off the terminal.
        let inner: Vec<u64> = par_bounded!(limit = 2, progress; for p in &parts => p * x);
        total += inner.iter().sum::<u64>();
    });
    println!("total = {total}");

    // Every backend reports through the same place: an async loop's bar too.
    futures::executor::block_on(async {
        par_bounded!(limit = 4, batch = 10, progress = "fetch"; for x in &items {
            std::future::ready(x).await;
        });
    });
}
