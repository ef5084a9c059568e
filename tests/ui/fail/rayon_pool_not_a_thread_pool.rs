use bounded::{bounded, Pool};
use std::sync::LazyLock;

static IO: LazyLock<Pool> = LazyLock::new(|| Pool::builder().build().unwrap());

#[bounded(backend = rayon, pool = IO, limit = 4)]
fn upload(files: &[String]) {
    for f in files {
        println!("{f}");
    }
}

fn main() {
    upload(&[]);
}
