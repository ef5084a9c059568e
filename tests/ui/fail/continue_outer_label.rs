use bounded::par_bounded;

fn main() {
    let rows = vec![vec![1, 2], vec![3]];
    'rows: for row in &rows {
        par_bounded!(limit = 2; for x in row {
            if *x == 2 {
                continue 'rows;
            }
        });
    }
}
