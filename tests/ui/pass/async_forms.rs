//! Loops whose body awaits, in the forms users write.
use bounded::{bounded, par_bounded};

async fn fetch(x: u64) -> Result<u64, std::io::Error> {
    Ok(x)
}

#[bounded(limit = 4, reduce(total: +))]
async fn total(xs: &[u64]) -> Result<u64, std::io::Error> {
    let mut total = 0;
    for x in xs {
        total += fetch(*x).await?;
    }
    Ok(total)
}

struct Client;

impl Client {
    #[bounded(limit = little(rate = 100, latency = 50ms), batch = 1)]
    async fn warm(&self, keys: Vec<String>) {
        for key in keys {
            let _ = fetch(key.len() as u64).await;
        }
    }
}

fn main() {
    let xs = [1u64, 2, 3];
    let _ = total(&xs);
    let _ = Client.warm(vec![]);
    let _ = async {
        let doubled: Vec<u64> = par_bounded!(limit = 2; for x in xs.iter() => {
            fetch(*x).await.unwrap_or(0) * 2
        });
        doubled
    };
}
