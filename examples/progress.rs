//! Loops with progress bars: `cargo run --example progress`.
//!
//! Bars are drawn on stderr only when stderr is a terminal; redirect it
//! (`2>log.txt`) and nothing is drawn. A loop nested in another's body draws its bar
//! under its parent's while it runs and clears it when it ends; a loop that ends within
//! 50 ms draws nothing.

use std::time::Duration;

use bounded::par_bounded;

fn main() {
    // One bar. The four-item loop inside each item ends at once: it never draws.
    let items: Vec<u64> = (0..200).collect();
    let mut total = 0u64;
    par_bounded!(limit = 4, batch = 5, progress = "resize", reduce(total: +); for x in &items {
        std::thread::sleep(Duration::from_millis(10));
        let parts: Vec<u64> = (0..4).collect();
        let inner: Vec<u64> = par_bounded!(limit = 2, progress; for p in &parts => p * x);
        total += inner.iter().sum::<u64>();
    });
    println!("total = {total}");

    // Nested bars: two albums at a time, each a loop over its photos with a bar of its
    // own under the albums' bar.
    let albums: Vec<u64> = (0..6).collect();
    let photos: Vec<u64> = (0..30).collect();
    let mut sizes = 0u64;
    par_bounded!(limit = 2, batch = 1, progress = "albums", reduce(sizes: +); for album in &albums {
        let mut album_size = 0u64;
        par_bounded!(limit = 2, batch = 1, progress = "photos", reduce(album_size: +); for photo in &photos {
            std::thread::sleep(Duration::from_millis(8));
            album_size += album * 100 + photo;
        });
        sizes += album_size;
    });
    println!("sizes = {sizes}");

    // Every backend reports through the same place: an async loop's bar too.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        par_bounded!(limit = 4, batch = 10, progress = "fetch"; for _x in &items {
            tokio::time::sleep(Duration::from_millis(4)).await;
        });
    });
}
