use bounded::bounded;

#[bounded(backend = pool)]
fn fetch_all(urls: &[String]) {
    for url in urls {
        println!("{url}");
    }
}

fn main() {
    fetch_all(&[]);
}
