use bounded::bounded;

#[derive(Debug)]
struct SendError;

#[bounded(backend = pool, limit = 4, queue = 2, on_full = reject)]
fn send_all(msgs: &[String]) -> Result<(), SendError> {
    for m in msgs {
        println!("{m}");
    }
    Ok(())
}

fn main() {
    let _ = send_all(&[]);
}
