use bounded::{par_bounded, CancelToken};

#[derive(Debug)]
struct FetchError;

fn fetch_all(urls: &[String], stop: &CancelToken) -> Result<(), FetchError> {
    par_bounded!(backend = pool, limit = 8, cancel = stop; for url in urls {
        println!("{url}");
    });
    Ok(())
}

fn main() {
    let _ = fetch_all(&[], &CancelToken::new());
}
