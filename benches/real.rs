//! Real programs, each written three ways side by side: the plain sequential program,
//! the same program with the annotation (`#[bounded(...)]` on the function or
//! `par_bounded!` around the loop, nothing else changed), and idiomatic hand-written
//! rayon. Most also run the annotated program with `backend = serial`, against the
//! plain sequential one.
//!
//! Every variant of a program computes the same answer, checked before timing; the
//! sequential answers are checked against published outputs where they exist
//! (spectral-norm, fannkuch-redux, n-body).
//!
//! The harness alternates the variants: each round runs every variant once, in a
//! rotating order, and a ratio is the median over rounds of the ratio taken within one
//! round. On a loaded machine this keeps ratios stable when absolute times are not.
//!
//!     cargo bench --bench real               # all programs
//!     cargo bench --bench real -- nbody sum  # programs whose name contains a filter

use bounded::{bounded, par_bounded};
use rayon::prelude::*;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

// ======================================================================== harness

/// Wall time one program may take, all variants together, after its warm-up round.
const BUDGET: Duration = Duration::from_secs(6);
const MIN_ROUNDS: usize = 5;
const MAX_ROUNDS: usize = 25;

type Run<'a> = Box<dyn FnMut() + 'a>;

struct Row {
    program: &'static str,
    ratios: Vec<(&'static str, f64)>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fmt_time(secs: f64) -> String {
    if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else if secs >= 1e-6 {
        format!("{:.2} µs", secs * 1e6)
    } else {
        format!("{:.0} ns", secs * 1e9)
    }
}

struct Harness {
    filters: Vec<String>,
    rows: Vec<Row>,
}

impl Harness {
    fn wants(&self, program: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| program.contains(f.as_str()))
    }

    /// Times `variants` in alternating rounds; `calls` is how many calls one run makes
    /// (reported per call). The first variant is the plain sequential program.
    fn bench(&mut self, program: &'static str, calls: u32, mut variants: Vec<(&'static str, Run)>) {
        let n = variants.len();
        for (_, run) in variants.iter_mut() {
            run();
        }
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); n];
        let started = Instant::now();
        let mut round = 0;
        while round < MIN_ROUNDS || (round < MAX_ROUNDS && started.elapsed() < BUDGET) {
            for k in 0..n {
                let v = (k + round) % n;
                let t = Instant::now();
                (variants[v].1)();
                times[v].push(t.elapsed().as_secs_f64() / f64::from(calls));
            }
            round += 1;
        }
        let names: Vec<&str> = variants.iter().map(|(name, _)| *name).collect();
        let find = |name: &str| names.iter().position(|n| *n == name);
        let ratio = |a: usize, b: usize| {
            let mut r: Vec<f64> = times[a].iter().zip(&times[b]).map(|(x, y)| x / y).collect();
            median(&mut r)
        };
        println!("\n## {program}  ({round} rounds)\n");
        println!("| variant | median / call | ÷ seq | ÷ rayon |");
        println!("| --- | ---: | ---: | ---: |");
        let (seq, rayon) = (0, find("rayon"));
        for v in 0..n {
            let t = median(&mut times[v].clone());
            let r = rayon.map_or("-".to_string(), |r| format!("{:.3}", ratio(v, r)));
            println!(
                "| {} | {} | {:.3} | {r} |",
                names[v],
                fmt_time(t),
                ratio(v, seq)
            );
        }
        let mut row = Row {
            program,
            ratios: Vec::new(),
        };
        if let (Some(b), Some(r)) = (find("bounded"), rayon) {
            row.ratios.push(("bounded ÷ rayon", ratio(b, r)));
        }
        if let Some(b) = find("bounded") {
            row.ratios.push(("bounded ÷ seq", ratio(b, seq)));
        }
        if let Some(s) = find("serial") {
            row.ratios.push(("serial ÷ seq", ratio(s, seq)));
        }
        self.rows.push(row);
    }

    fn summary(&self) {
        println!("\n## summary (median of per-round ratios; below 1 is faster)\n");
        println!("| program | bounded ÷ rayon | bounded ÷ seq | serial ÷ seq |");
        println!("| --- | ---: | ---: | ---: |");
        for row in &self.rows {
            let get = |k: &str| {
                row.ratios
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map_or("-".to_string(), |(_, r)| format!("{r:.3}"))
            };
            println!(
                "| {} | {} | {} | {} |",
                row.program,
                get("bounded ÷ rayon"),
                get("bounded ÷ seq"),
                get("serial ÷ seq")
            );
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// Consumes a result (after `black_box`), whether or not it is `Copy`.
fn sink<T>(_: T) {}

/// A deterministic pseudo-random stream (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

// ================================================================== spectral-norm

const SPECTRAL_N: usize = 1000;

fn a(i: usize, j: usize) -> f64 {
    1.0 / ((i + j) * (i + j + 1) / 2 + i + 1) as f64
}

fn mul_av_seq(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push((0..n).map(|j| a(i, j) * u[j]).sum::<f64>());
    }
    v
}

fn mul_atv_seq(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push((0..n).map(|j| a(j, i) * u[j]).sum::<f64>());
    }
    v
}

#[bounded(batch = 8, reduce(v: append))]
fn mul_av_bounded(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push((0..n).map(|j| a(i, j) * u[j]).sum::<f64>());
    }
    v
}

#[bounded(batch = 8, reduce(v: append))]
fn mul_atv_bounded(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push((0..n).map(|j| a(j, i) * u[j]).sum::<f64>());
    }
    v
}

#[bounded(backend = serial, reduce(v: append))]
fn mul_av_serial(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push((0..n).map(|j| a(i, j) * u[j]).sum::<f64>());
    }
    v
}

#[bounded(backend = serial, reduce(v: append))]
fn mul_atv_serial(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push((0..n).map(|j| a(j, i) * u[j]).sum::<f64>());
    }
    v
}

/// The collect form: `par_bounded!` around the row loop.
fn mul_av_collect(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    par_bounded!(batch = 8; for i in 0..n => (0..n).map(|j| a(i, j) * u[j]).sum::<f64>())
}

fn mul_atv_collect(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    par_bounded!(batch = 8; for i in 0..n => (0..n).map(|j| a(j, i) * u[j]).sum::<f64>())
}

fn mul_av_rayon(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    (0..n)
        .into_par_iter()
        .map(|i| (0..n).map(|j| a(i, j) * u[j]).sum::<f64>())
        .collect()
}

fn mul_atv_rayon(u: &[f64]) -> Vec<f64> {
    let n = u.len();
    (0..n)
        .into_par_iter()
        .map(|i| (0..n).map(|j| a(j, i) * u[j]).sum::<f64>())
        .collect()
}

type MatVec = fn(&[f64]) -> Vec<f64>;

fn spectral_norm(n: usize, av: MatVec, atv: MatVec) -> f64 {
    let mut u = vec![1.0; n];
    let mut v = Vec::new();
    for _ in 0..10 {
        v = atv(&av(&u));
        u = atv(&av(&v));
    }
    let vbv: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
    let vv: f64 = v.iter().map(|x| x * x).sum();
    (vbv / vv).sqrt()
}

fn spectral(h: &mut Harness) {
    let published = format!("{:.9}", spectral_norm(100, mul_av_seq, mul_atv_seq));
    assert_eq!(published, "1.274219991", "spectral-norm n = 100");
    let n = SPECTRAL_N;
    let expected = spectral_norm(n, mul_av_seq, mul_atv_seq);
    for (name, av, atv) in [
        (
            "bounded",
            mul_av_bounded as MatVec,
            mul_atv_bounded as MatVec,
        ),
        ("collect", mul_av_collect, mul_atv_collect),
        ("serial", mul_av_serial, mul_atv_serial),
        ("rayon", mul_av_rayon, mul_atv_rayon),
    ] {
        assert_eq!(spectral_norm(n, av, atv), expected, "spectral-norm {name}");
    }
    let v = |av: MatVec, atv: MatVec| -> Run {
        Box::new(move || sink(black_box(spectral_norm(black_box(n), av, atv))))
    };
    h.bench(
        "spectral-norm n=1000",
        1,
        vec![
            ("seq", v(mul_av_seq, mul_atv_seq)),
            ("bounded", v(mul_av_bounded, mul_atv_bounded)),
            ("par_bounded! collect", v(mul_av_collect, mul_atv_collect)),
            ("serial", v(mul_av_serial, mul_atv_serial)),
            ("rayon", v(mul_av_rayon, mul_atv_rayon)),
        ],
    );
}

// ===================================================================== mandelbrot

const MANDEL_N: usize = 1000;

/// Rows of the image as PBM bytes, 8 pixels a byte, most significant bit first.
fn mandel_seq(n: usize) -> Vec<Vec<u8>> {
    let mut rows = Vec::with_capacity(n);
    for y in 0..n {
        let ci = 2.0 * y as f64 / n as f64 - 1.0;
        let mut row = Vec::with_capacity(n / 8);
        for xb in (0..n).step_by(8) {
            let mut byte = 0u8;
            for x in xb..xb + 8 {
                let cr = 2.0 * x as f64 / n as f64 - 1.5;
                let (mut zr, mut zi) = (0.0f64, 0.0f64);
                let mut inside = true;
                for _ in 0..50 {
                    let (zr2, zi2) = (zr * zr, zi * zi);
                    if zr2 + zi2 > 4.0 {
                        inside = false;
                        break;
                    }
                    zi = 2.0 * zr * zi + ci;
                    zr = zr2 - zi2 + cr;
                }
                byte = (byte << 1) | inside as u8;
            }
            row.push(byte);
        }
        rows.push(row);
    }
    rows
}

#[bounded(reduce(rows: append))]
fn mandel_bounded(n: usize) -> Vec<Vec<u8>> {
    let mut rows = Vec::with_capacity(n);
    for y in 0..n {
        let ci = 2.0 * y as f64 / n as f64 - 1.0;
        let mut row = Vec::with_capacity(n / 8);
        for xb in (0..n).step_by(8) {
            let mut byte = 0u8;
            for x in xb..xb + 8 {
                let cr = 2.0 * x as f64 / n as f64 - 1.5;
                let (mut zr, mut zi) = (0.0f64, 0.0f64);
                let mut inside = true;
                for _ in 0..50 {
                    let (zr2, zi2) = (zr * zr, zi * zi);
                    if zr2 + zi2 > 4.0 {
                        inside = false;
                        break;
                    }
                    zi = 2.0 * zr * zi + ci;
                    zr = zr2 - zi2 + cr;
                }
                byte = (byte << 1) | inside as u8;
            }
            row.push(byte);
        }
        rows.push(row);
    }
    rows
}

#[bounded(backend = serial, reduce(rows: append))]
fn mandel_serial(n: usize) -> Vec<Vec<u8>> {
    let mut rows = Vec::with_capacity(n);
    for y in 0..n {
        let ci = 2.0 * y as f64 / n as f64 - 1.0;
        let mut row = Vec::with_capacity(n / 8);
        for xb in (0..n).step_by(8) {
            let mut byte = 0u8;
            for x in xb..xb + 8 {
                let cr = 2.0 * x as f64 / n as f64 - 1.5;
                let (mut zr, mut zi) = (0.0f64, 0.0f64);
                let mut inside = true;
                for _ in 0..50 {
                    let (zr2, zi2) = (zr * zr, zi * zi);
                    if zr2 + zi2 > 4.0 {
                        inside = false;
                        break;
                    }
                    zi = 2.0 * zr * zi + ci;
                    zr = zr2 - zi2 + cr;
                }
                byte = (byte << 1) | inside as u8;
            }
            row.push(byte);
        }
        rows.push(row);
    }
    rows
}

fn mandel_rayon(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .into_par_iter()
        .map(|y| {
            let ci = 2.0 * y as f64 / n as f64 - 1.0;
            (0..n)
                .step_by(8)
                .map(|xb| {
                    let mut byte = 0u8;
                    for x in xb..xb + 8 {
                        let cr = 2.0 * x as f64 / n as f64 - 1.5;
                        let (mut zr, mut zi) = (0.0f64, 0.0f64);
                        let mut inside = true;
                        for _ in 0..50 {
                            let (zr2, zi2) = (zr * zr, zi * zi);
                            if zr2 + zi2 > 4.0 {
                                inside = false;
                                break;
                            }
                            zi = 2.0 * zr * zi + ci;
                            zr = zr2 - zi2 + cr;
                        }
                        byte = (byte << 1) | inside as u8;
                    }
                    byte
                })
                .collect()
        })
        .collect()
}

fn mandelbrot(h: &mut Harness) {
    let n = MANDEL_N;
    let expected = mandel_seq(n);
    assert_eq!(mandel_bounded(n), expected, "mandelbrot bounded");
    assert_eq!(mandel_serial(n), expected, "mandelbrot serial");
    assert_eq!(mandel_rayon(n), expected, "mandelbrot rayon");
    type F = fn(usize) -> Vec<Vec<u8>>;
    let v = |f: F| -> Run { Box::new(move || sink(black_box(f(black_box(n))))) };
    h.bench(
        "mandelbrot 1000x1000",
        1,
        vec![
            ("seq", v(mandel_seq)),
            ("bounded", v(mandel_bounded)),
            ("serial", v(mandel_serial)),
            ("rayon", v(mandel_rayon)),
        ],
    );
}

// ================================================================= fannkuch-redux

const FANNKUCH_N: usize = 10;
/// Permutations are split into this many runs of consecutive indices.
const FANNKUCH_CHUNKS: usize = 240;

fn factorial(n: usize) -> usize {
    (1..=n).product()
}

/// Checksum and maximum flips over the permutations with indices `first..last`, in the
/// order of the Benchmarks Game's counting algorithm.
fn fannkuch_run(n: usize, first: usize, last: usize) -> (i64, u32) {
    let mut p = [0u8; 16];
    let mut count = [0usize; 16];
    for (i, x) in p.iter_mut().enumerate().take(n) {
        *x = i as u8;
    }
    // The permutation with index `first`: digits of `first` in the factorial base are
    // the left rotations of each prefix.
    let mut idx = first;
    for i in (1..n).rev() {
        let f = factorial(i);
        let d = idx / f;
        idx %= f;
        count[i] = d;
        let old = p;
        for j in 0..=i {
            p[j] = old[(j + d) % (i + 1)];
        }
    }
    let (mut checksum, mut max_flips) = (0i64, 0u32);
    for index in first..last {
        let mut q = p;
        let mut flips = 0u32;
        let mut first = q[0] as usize;
        while first != 0 {
            q[..=first].reverse();
            flips += 1;
            first = q[0] as usize;
        }
        max_flips = max_flips.max(flips);
        checksum += if index % 2 == 0 {
            i64::from(flips)
        } else {
            -i64::from(flips)
        };
        // Next permutation: rotate the shortest prefix whose counter has not wrapped.
        let mut i = 1;
        while i < n {
            let head = p[0];
            for j in 0..i {
                p[j] = p[j + 1];
            }
            p[i] = head;
            count[i] += 1;
            if count[i] <= i {
                break;
            }
            count[i] = 0;
            i += 1;
        }
    }
    (checksum, max_flips)
}

fn fannkuch_seq(n: usize) -> (i64, u32) {
    let per = factorial(n) / FANNKUCH_CHUNKS;
    let mut checksum = 0;
    let mut max_flips = 0;
    for c in 0..FANNKUCH_CHUNKS {
        let (sum, flips) = fannkuch_run(n, c * per, (c + 1) * per);
        checksum += sum;
        max_flips = max_flips.max(flips);
    }
    (checksum, max_flips)
}

#[bounded(batch = 1, reduce(checksum: +, max_flips: max))]
fn fannkuch_bounded(n: usize) -> (i64, u32) {
    let per = factorial(n) / FANNKUCH_CHUNKS;
    let mut checksum = 0;
    let mut max_flips = 0;
    for c in 0..FANNKUCH_CHUNKS {
        let (sum, flips) = fannkuch_run(n, c * per, (c + 1) * per);
        checksum += sum;
        max_flips = max_flips.max(flips);
    }
    (checksum, max_flips)
}

#[bounded(backend = serial, reduce(checksum: +, max_flips: max))]
fn fannkuch_serial(n: usize) -> (i64, u32) {
    let per = factorial(n) / FANNKUCH_CHUNKS;
    let mut checksum = 0;
    let mut max_flips = 0;
    for c in 0..FANNKUCH_CHUNKS {
        let (sum, flips) = fannkuch_run(n, c * per, (c + 1) * per);
        checksum += sum;
        max_flips = max_flips.max(flips);
    }
    (checksum, max_flips)
}

fn fannkuch_rayon(n: usize) -> (i64, u32) {
    let per = factorial(n) / FANNKUCH_CHUNKS;
    (0..FANNKUCH_CHUNKS)
        .into_par_iter()
        .map(|c| fannkuch_run(n, c * per, (c + 1) * per))
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1.max(b.1)))
}

fn fannkuch(h: &mut Harness) {
    // Published output for n = 7: "228" and "Pfannkuchen(7) = 16".
    assert_eq!(
        fannkuch_run(7, 0, factorial(7)),
        (228, 16),
        "fannkuch-redux n = 7"
    );
    let n = FANNKUCH_N;
    let expected = fannkuch_seq(n);
    // Published output for n = 10.
    assert_eq!(expected, (73196, 38), "fannkuch-redux n = 10");
    assert_eq!(fannkuch_bounded(n), expected, "fannkuch bounded");
    assert_eq!(fannkuch_serial(n), expected, "fannkuch serial");
    assert_eq!(fannkuch_rayon(n), expected, "fannkuch rayon");
    type F = fn(usize) -> (i64, u32);
    let v = |f: F| -> Run { Box::new(move || sink(black_box(f(black_box(n))))) };
    h.bench(
        "fannkuch-redux n=10",
        1,
        vec![
            ("seq", v(fannkuch_seq)),
            ("bounded", v(fannkuch_bounded)),
            ("serial", v(fannkuch_serial)),
            ("rayon", v(fannkuch_rayon)),
        ],
    );
}

// ==================================================================== k-nucleotide

const DNA_LEN: usize = 1_000_000;

/// A DNA sequence from the fasta program's generator and its homo sapiens frequencies.
fn dna(len: usize) -> Vec<u8> {
    const IM: u32 = 139_968;
    const IA: u32 = 3_877;
    const IC: u32 = 29_573;
    let table = [
        (b'a', 0.302_954_942_668),
        (b'c', 0.197_988_300_492_1),
        (b'g', 0.197_547_306_639_1),
        (b't', 0.301_509_450_200_8),
    ];
    let mut seed = 42u32;
    (0..len)
        .map(|_| {
            seed = (seed * IA + IC) % IM;
            let r = f64::from(seed) / f64::from(IM);
            let mut acc = 0.0;
            for (b, p) in table {
                acc += p;
                if r < acc {
                    return b;
                }
            }
            b't'
        })
        .collect()
}

type Counts<'a> = HashMap<&'a [u8], usize>;

fn kmers_seq(seq: &[u8], k: usize) -> Counts<'_> {
    let mut counts = HashMap::new();
    for i in 0..seq.len() - k + 1 {
        *counts.entry(&seq[i..i + k]).or_insert(0) += 1;
    }
    counts
}

#[bounded(reduce(counts: merge))]
fn kmers_bounded(seq: &[u8], k: usize) -> Counts<'_> {
    let mut counts = HashMap::new();
    for i in 0..seq.len() - k + 1 {
        *counts.entry(&seq[i..i + k]).or_insert(0) += 1;
    }
    counts
}

#[bounded(backend = serial, reduce(counts: merge))]
fn kmers_serial(seq: &[u8], k: usize) -> Counts<'_> {
    let mut counts = HashMap::new();
    for i in 0..seq.len() - k + 1 {
        *counts.entry(&seq[i..i + k]).or_insert(0) += 1;
    }
    counts
}

fn kmers_rayon(seq: &[u8], k: usize) -> Counts<'_> {
    (0..seq.len() - k + 1)
        .into_par_iter()
        .fold(HashMap::new, |mut counts: Counts<'_>, i| {
            *counts.entry(&seq[i..i + k]).or_insert(0) += 1;
            counts
        })
        .reduce(HashMap::new, |a, b| {
            let (mut a, b) = if a.len() < b.len() { (b, a) } else { (a, b) };
            for (key, n) in b {
                *a.entry(key).or_insert(0) += n;
            }
            a
        })
}

fn kmers_mutex(seq: &[u8], k: usize) -> Counts<'_> {
    let counts = Mutex::new(HashMap::new());
    (0..seq.len() - k + 1).into_par_iter().for_each(|i| {
        *counts.lock().unwrap().entry(&seq[i..i + k]).or_insert(0) += 1;
    });
    counts.into_inner().unwrap()
}

fn knucleotide(h: &mut Harness) {
    let seq = dna(DNA_LEN);
    for k in [6usize, 12] {
        let expected = kmers_seq(&seq, k);
        assert_eq!(expected.values().sum::<usize>(), seq.len() - k + 1);
        assert_eq!(kmers_bounded(&seq, k), expected, "k-nucleotide bounded");
        assert_eq!(kmers_serial(&seq, k), expected, "k-nucleotide serial");
        assert_eq!(kmers_rayon(&seq, k), expected, "k-nucleotide rayon");
        assert_eq!(kmers_mutex(&seq, k), expected, "k-nucleotide mutex");
        let seq = &seq;
        type F = for<'a> fn(&'a [u8], usize) -> Counts<'a>;
        let v = |f: F| -> Run { Box::new(move || sink(black_box(f(black_box(seq), k)))) };
        h.bench(
            if k == 6 {
                "k-nucleotide 1M, k=6"
            } else {
                "k-nucleotide 1M, k=12"
            },
            1,
            vec![
                ("seq", v(kmers_seq)),
                ("bounded", v(kmers_bounded)),
                ("serial", v(kmers_serial)),
                ("rayon", v(kmers_rayon)),
                ("rayon Mutex<HashMap>", v(kmers_mutex)),
            ],
        );
    }
}

// ========================================================================== n-body

const SYSTEMS: usize = 64;
const STEPS: usize = 1000;

#[derive(Clone, Copy)]
struct Body {
    pos: [f64; 3],
    vel: [f64; 3],
    mass: f64,
}

const PI: f64 = std::f64::consts::PI;
const SOLAR_MASS: f64 = 4.0 * PI * PI;
const DAYS_PER_YEAR: f64 = 365.24;

/// The Benchmarks Game's Jovian planets, with velocities scaled by `1 + s / 10^4` so
/// every system differs; system 0 is the published one.
fn system(s: usize) -> [Body; 5] {
    let planet = |pos: [f64; 3], vel: [f64; 3], mass: f64| Body {
        pos,
        vel: vel.map(|v| v * DAYS_PER_YEAR * (1.0 + s as f64 * 1e-4)),
        mass: mass * SOLAR_MASS,
    };
    let mut bodies = [
        Body {
            pos: [0.0; 3],
            vel: [0.0; 3],
            mass: SOLAR_MASS,
        },
        planet(
            [
                4.841_431_442_464_72,
                -1.160_320_044_027_428_4,
                -0.103_622_044_471_123_1,
            ],
            [
                0.001_660_076_642_744_037,
                0.007_699_011_184_197_404,
                -0.000_069_046_000_415_883_9,
            ],
            0.000_954_791_938_424_326_6,
        ),
        planet(
            [
                8.343_366_718_244_58,
                4.124_798_564_124_305,
                -0.403_523_417_114_321_4,
            ],
            [
                -0.002_767_425_107_268_624,
                0.004_998_528_012_349_172,
                0.000_023_041_729_757_376_393,
            ],
            0.000_285_885_980_666_130_8,
        ),
        planet(
            [
                12.894_369_562_139_131,
                -15.111_151_401_698_631,
                -0.223_307_578_892_655_73,
            ],
            [
                0.002_964_601_375_647_616,
                0.002_378_471_739_594_809_5,
                -0.000_029_658_956_854_023_756,
            ],
            0.000_043_662_440_433_515_64,
        ),
        planet(
            [
                15.379_697_114_850_917,
                -25.919_314_609_987_964,
                0.179_258_772_950_371_18,
            ],
            [
                0.002_680_677_724_903_893_2,
                0.001_628_241_700_382_423,
                -0.000_095_159_225_451_971_59,
            ],
            0.000_051_513_890_204_661_15,
        ),
    ];
    let mut p = [0.0; 3];
    for b in &bodies[1..] {
        for (pk, vk) in p.iter_mut().zip(b.vel) {
            *pk += vk * b.mass;
        }
    }
    bodies[0].vel = p.map(|pk| -pk / SOLAR_MASS);
    bodies
}

// Written as the Benchmarks Game programs are, with index loops over coordinates.
#[allow(clippy::needless_range_loop)]
fn advance(bodies: &mut [Body; 5], dt: f64) {
    for i in 0..5 {
        let (left, right) = bodies.split_at_mut(i + 1);
        let bi = &mut left[i];
        for bj in right {
            let d = [
                bi.pos[0] - bj.pos[0],
                bi.pos[1] - bj.pos[1],
                bi.pos[2] - bj.pos[2],
            ];
            let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
            let mag = dt / (d2 * d2.sqrt());
            for k in 0..3 {
                bi.vel[k] -= d[k] * bj.mass * mag;
                bj.vel[k] += d[k] * bi.mass * mag;
            }
        }
    }
    for b in bodies.iter_mut() {
        for k in 0..3 {
            b.pos[k] += dt * b.vel[k];
        }
    }
}

fn energy(bodies: &[Body; 5]) -> f64 {
    let mut e = 0.0;
    for (i, bi) in bodies.iter().enumerate() {
        e += 0.5 * bi.mass * bi.vel.iter().map(|v| v * v).sum::<f64>();
        for bj in &bodies[i + 1..] {
            let d2: f64 = (0..3).map(|k| (bi.pos[k] - bj.pos[k]).powi(2)).sum();
            e -= bi.mass * bj.mass / d2.sqrt();
        }
    }
    e
}

fn nbody_seq(systems: usize) -> Vec<f64> {
    let mut energies = Vec::with_capacity(systems);
    for s in 0..systems {
        let mut bodies = system(s);
        for _ in 0..STEPS {
            advance(&mut bodies, 0.01);
        }
        energies.push(energy(&bodies));
    }
    energies
}

#[bounded(batch = 1, reduce(energies: append))]
fn nbody_bounded(systems: usize) -> Vec<f64> {
    let mut energies = Vec::with_capacity(systems);
    for s in 0..systems {
        let mut bodies = system(s);
        for _ in 0..STEPS {
            advance(&mut bodies, 0.01);
        }
        energies.push(energy(&bodies));
    }
    energies
}

#[bounded(backend = serial, reduce(energies: append))]
fn nbody_serial(systems: usize) -> Vec<f64> {
    let mut energies = Vec::with_capacity(systems);
    for s in 0..systems {
        let mut bodies = system(s);
        for _ in 0..STEPS {
            advance(&mut bodies, 0.01);
        }
        energies.push(energy(&bodies));
    }
    energies
}

fn nbody_rayon(systems: usize) -> Vec<f64> {
    (0..systems)
        .into_par_iter()
        .map(|s| {
            let mut bodies = system(s);
            for _ in 0..STEPS {
                advance(&mut bodies, 0.01);
            }
            energy(&bodies)
        })
        .collect()
}

fn nbody(h: &mut Harness) {
    assert_eq!(
        format!("{:.9}", energy(&system(0))),
        "-0.169075164",
        "n-body start"
    );
    let expected = nbody_seq(SYSTEMS);
    // Published output for 1000 steps.
    assert_eq!(
        format!("{:.9}", expected[0]),
        "-0.169087605",
        "n-body 1000 steps"
    );
    assert_eq!(nbody_bounded(SYSTEMS), expected, "n-body bounded");
    assert_eq!(nbody_serial(SYSTEMS), expected, "n-body serial");
    assert_eq!(nbody_rayon(SYSTEMS), expected, "n-body rayon");
    type F = fn(usize) -> Vec<f64>;
    let v = |f: F| -> Run { Box::new(move || sink(black_box(f(black_box(SYSTEMS))))) };
    h.bench(
        "n-body 64 systems x 1000 steps",
        1,
        vec![
            ("seq", v(nbody_seq)),
            ("bounded", v(nbody_bounded)),
            ("serial", v(nbody_serial)),
            ("rayon", v(nbody_rayon)),
        ],
    );
}

// ================================================================ matrix multiply

const MAT_N: usize = 384;

/// `c = a × b` for row-major `n × n` matrices, one output row at a time (i-k-j order).
fn matmul_seq(a: &[f64], b: &[f64], c: &mut [Vec<f64>]) {
    let n = c.len();
    for (i, row) in c.iter_mut().enumerate() {
        row.fill(0.0);
        for k in 0..n {
            let aik = a[i * n + k];
            for (cij, bkj) in row.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *cij += aik * bkj;
            }
        }
    }
}

#[bounded(batch = 4)]
fn matmul_bounded(a: &[f64], b: &[f64], c: &mut [Vec<f64>]) {
    let n = c.len();
    for (i, row) in c.iter_mut().enumerate() {
        row.fill(0.0);
        for k in 0..n {
            let aik = a[i * n + k];
            for (cij, bkj) in row.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *cij += aik * bkj;
            }
        }
    }
}

#[bounded(backend = serial)]
fn matmul_serial(a: &[f64], b: &[f64], c: &mut [Vec<f64>]) {
    let n = c.len();
    for (i, row) in c.iter_mut().enumerate() {
        row.fill(0.0);
        for k in 0..n {
            let aik = a[i * n + k];
            for (cij, bkj) in row.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *cij += aik * bkj;
            }
        }
    }
}

fn matmul_rayon(a: &[f64], b: &[f64], c: &mut [Vec<f64>]) {
    let n = c.len();
    c.par_iter_mut().enumerate().for_each(|(i, row)| {
        row.fill(0.0);
        for k in 0..n {
            let aik = a[i * n + k];
            for (cij, bkj) in row.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *cij += aik * bkj;
            }
        }
    });
}

fn matmul(h: &mut Harness) {
    let n = MAT_N;
    let mut rng = Rng(7);
    let mut matrix = || -> Vec<f64> {
        (0..n * n)
            .map(|_| (rng.next() % 1000) as f64 / 100.0)
            .collect()
    };
    let (a, b) = (matrix(), matrix());
    type F = fn(&[f64], &[f64], &mut [Vec<f64>]);
    let product = |f: F| {
        let mut c = vec![vec![0.0; n]; n];
        f(&a, &b, &mut c);
        c
    };
    let expected = product(matmul_seq);
    // Every variant sums each entry in the same order, so they agree bit for bit.
    assert_eq!(product(matmul_bounded), expected, "matmul bounded");
    assert_eq!(product(matmul_serial), expected, "matmul serial");
    assert_eq!(product(matmul_rayon), expected, "matmul rayon");
    // One output for every variant: rows the allocator placed differently for each
    // variant would meet the cache differently, and that would be measured.
    let c = std::cell::RefCell::new(vec![vec![0.0; n]; n]);
    let (a, b, c) = (&a, &b, &c);
    let v = |f: F| -> Run {
        Box::new(move || {
            let mut c = c.borrow_mut();
            f(black_box(a), black_box(b), &mut c);
            black_box(&*c);
        })
    };
    h.bench(
        "matrix multiply 384x384 f64",
        1,
        vec![
            ("seq", v(matmul_seq)),
            ("bounded", v(matmul_bounded)),
            ("serial", v(matmul_serial)),
            ("rayon", v(matmul_rayon)),
        ],
    );
}

// ==================================================================== game of life

const LIFE_N: usize = 512;
const GENERATIONS: usize = 30;

type Grid = Vec<Vec<u8>>;

/// One generation of a torus: `next` from `grid`.
fn life_step_seq(grid: &[Vec<u8>], next: &mut [Vec<u8>]) {
    let (h, w) = (grid.len(), grid[0].len());
    for (y, out) in next.iter_mut().enumerate() {
        let up = &grid[(y + h - 1) % h];
        let mid = &grid[y];
        let down = &grid[(y + 1) % h];
        for x in 0..w {
            let (l, r) = ((x + w - 1) % w, (x + 1) % w);
            let n = up[l] + up[x] + up[r] + mid[l] + mid[r] + down[l] + down[x] + down[r];
            out[x] = (n == 3 || (n == 2 && mid[x] == 1)) as u8;
        }
    }
}

#[bounded(batch = 8)]
fn life_step_bounded(grid: &[Vec<u8>], next: &mut [Vec<u8>]) {
    let (h, w) = (grid.len(), grid[0].len());
    for (y, out) in next.iter_mut().enumerate() {
        let up = &grid[(y + h - 1) % h];
        let mid = &grid[y];
        let down = &grid[(y + 1) % h];
        for x in 0..w {
            let (l, r) = ((x + w - 1) % w, (x + 1) % w);
            let n = up[l] + up[x] + up[r] + mid[l] + mid[r] + down[l] + down[x] + down[r];
            out[x] = (n == 3 || (n == 2 && mid[x] == 1)) as u8;
        }
    }
}

#[bounded(backend = serial)]
fn life_step_serial(grid: &[Vec<u8>], next: &mut [Vec<u8>]) {
    let (h, w) = (grid.len(), grid[0].len());
    for (y, out) in next.iter_mut().enumerate() {
        let up = &grid[(y + h - 1) % h];
        let mid = &grid[y];
        let down = &grid[(y + 1) % h];
        for x in 0..w {
            let (l, r) = ((x + w - 1) % w, (x + 1) % w);
            let n = up[l] + up[x] + up[r] + mid[l] + mid[r] + down[l] + down[x] + down[r];
            out[x] = (n == 3 || (n == 2 && mid[x] == 1)) as u8;
        }
    }
}

fn life_step_rayon(grid: &[Vec<u8>], next: &mut [Vec<u8>]) {
    let (h, w) = (grid.len(), grid[0].len());
    next.par_iter_mut().enumerate().for_each(|(y, out)| {
        let up = &grid[(y + h - 1) % h];
        let mid = &grid[y];
        let down = &grid[(y + 1) % h];
        for x in 0..w {
            let (l, r) = ((x + w - 1) % w, (x + 1) % w);
            let n = up[l] + up[x] + up[r] + mid[l] + mid[r] + down[l] + down[x] + down[r];
            out[x] = (n == 3 || (n == 2 && mid[x] == 1)) as u8;
        }
    });
}

type LifeStep = fn(&[Vec<u8>], &mut [Vec<u8>]);

fn life(start: &Grid, step: LifeStep) -> Grid {
    let mut grid = start.clone();
    let mut next = start.clone();
    for _ in 0..GENERATIONS {
        step(&grid, &mut next);
        std::mem::swap(&mut grid, &mut next);
    }
    grid
}

fn game_of_life(h: &mut Harness) {
    let mut rng = Rng(11);
    let start: Grid = (0..LIFE_N)
        .map(|_| (0..LIFE_N).map(|_| (rng.next() % 3 == 0) as u8).collect())
        .collect();
    let expected = life(&start, life_step_seq);
    assert!(
        expected.iter().flatten().any(|&c| c == 1),
        "life: not all dead"
    );
    assert_eq!(life(&start, life_step_bounded), expected, "life bounded");
    assert_eq!(life(&start, life_step_serial), expected, "life serial");
    assert_eq!(life(&start, life_step_rayon), expected, "life rayon");
    let start = &start;
    let v = |f: LifeStep| -> Run { Box::new(move || sink(black_box(life(black_box(start), f)))) };
    h.bench(
        "game of life 512x512 x 30",
        1,
        vec![
            ("seq", v(life_step_seq)),
            ("bounded", v(life_step_bounded)),
            ("serial", v(life_step_serial)),
            ("rayon", v(life_step_rayon)),
        ],
    );
}

// ====================================================================== merge sort

const SORT_LEN: usize = 1 << 20;
/// Below this length a half is sorted sequentially in every variant.
const SORT_CUTOFF: usize = 1 << 14;

/// Sequential merge sort of `v`, with `buf` (as long as `v`) as scratch.
fn msort_plain(v: &mut [u64], buf: &mut [u64]) {
    if v.len() <= 32 {
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && v[j - 1] > v[j] {
                v.swap(j - 1, j);
                j -= 1;
            }
        }
        return;
    }
    let mid = v.len() / 2;
    {
        let (l, r) = v.split_at_mut(mid);
        let (bl, br) = buf.split_at_mut(mid);
        msort_plain(l, bl);
        msort_plain(r, br);
    }
    merge(v, buf, mid);
}

/// Merges the sorted halves `v[..mid]` and `v[mid..]` through `buf`.
fn merge(v: &mut [u64], buf: &mut [u64], mid: usize) {
    let (mut i, mut j) = (0, mid);
    for out in buf.iter_mut() {
        if j >= v.len() || (i < mid && v[i] <= v[j]) {
            *out = v[i];
            i += 1;
        } else {
            *out = v[j];
            j += 1;
        }
    }
    v.copy_from_slice(buf);
}

fn msort_seq(v: &mut [u64], buf: &mut [u64]) {
    if v.len() <= SORT_CUTOFF {
        return msort_plain(v, buf);
    }
    let mid = v.len() / 2;
    {
        let (l, r) = v.split_at_mut(mid);
        let (bl, br) = buf.split_at_mut(mid);
        for (half, scratch) in [(l, bl), (r, br)] {
            msort_seq(half, scratch);
        }
    }
    merge(v, buf, mid);
}

fn msort_bounded(v: &mut [u64], buf: &mut [u64]) {
    if v.len() <= SORT_CUTOFF {
        return msort_plain(v, buf);
    }
    let mid = v.len() / 2;
    {
        let (l, r) = v.split_at_mut(mid);
        let (bl, br) = buf.split_at_mut(mid);
        par_bounded!(batch = 1; for (half, scratch) in [(l, bl), (r, br)] {
            msort_bounded(half, scratch);
        });
    }
    merge(v, buf, mid);
}

fn msort_serial(v: &mut [u64], buf: &mut [u64]) {
    if v.len() <= SORT_CUTOFF {
        return msort_plain(v, buf);
    }
    let mid = v.len() / 2;
    {
        let (l, r) = v.split_at_mut(mid);
        let (bl, br) = buf.split_at_mut(mid);
        par_bounded!(backend = serial; for (half, scratch) in [(l, bl), (r, br)] {
            msort_serial(half, scratch);
        });
    }
    merge(v, buf, mid);
}

fn msort_rayon(v: &mut [u64], buf: &mut [u64]) {
    if v.len() <= SORT_CUTOFF {
        return msort_plain(v, buf);
    }
    let mid = v.len() / 2;
    {
        let (l, r) = v.split_at_mut(mid);
        let (bl, br) = buf.split_at_mut(mid);
        rayon::join(|| msort_rayon(l, bl), || msort_rayon(r, br));
    }
    merge(v, buf, mid);
}

fn merge_sort(h: &mut Harness) {
    let mut rng = Rng(3);
    let input: Vec<u64> = (0..SORT_LEN).map(|_| rng.next()).collect();
    let mut expected = input.clone();
    expected.sort_unstable();
    type F = fn(&mut [u64], &mut [u64]);
    let sorted = |f: F| {
        let mut v = input.clone();
        let mut buf = vec![0; v.len()];
        f(&mut v, &mut buf);
        v
    };
    for (name, f) in [
        ("seq", msort_seq as F),
        ("bounded", msort_bounded),
        ("serial", msort_serial),
        ("rayon", msort_rayon),
    ] {
        assert_eq!(sorted(f), expected, "merge sort {name}");
    }
    // One pair of buffers for every variant, as for the matrices.
    let buffers = std::cell::RefCell::new((input.clone(), vec![0; input.len()]));
    let (input, buffers) = (&input, &buffers);
    let v = |f: F| -> Run {
        Box::new(move || {
            let (v, buf) = &mut *buffers.borrow_mut();
            v.copy_from_slice(input);
            f(v, buf);
            black_box(&v);
        })
    };
    h.bench(
        "merge sort 1M u64 (nested)",
        1,
        vec![
            ("seq", v(msort_seq)),
            ("bounded", v(msort_bounded)),
            ("serial", v(msort_serial)),
            ("rayon", v(msort_rayon)),
        ],
    );
}

// ====================================================================== word count

const LINES: usize = 100_000;
const WORDS_PER_LINE: usize = 10;
const VOCABULARY: u64 = 5_000;

fn text() -> String {
    let mut rng = Rng(5);
    let mut text = String::new();
    for _ in 0..LINES {
        for w in 0..WORDS_PER_LINE {
            if w > 0 {
                text.push(' ');
            }
            // Zipf-like: small word numbers are much more frequent.
            let r = rng.next() % VOCABULARY;
            let word = r * r / VOCABULARY;
            text.push_str(&format!("w{word:x}"));
        }
        text.push('\n');
    }
    text
}

type WordCounts<'a> = HashMap<&'a str, usize>;

fn wc_seq(text: &str) -> WordCounts<'_> {
    let mut counts = HashMap::new();
    for line in text.lines() {
        for word in line.split_whitespace() {
            *counts.entry(word).or_insert(0) += 1;
        }
    }
    counts
}

#[bounded(reduce(counts: merge))]
fn wc_bounded(text: &str) -> WordCounts<'_> {
    let mut counts = HashMap::new();
    for line in text.lines() {
        for word in line.split_whitespace() {
            *counts.entry(word).or_insert(0) += 1;
        }
    }
    counts
}

#[bounded(backend = serial, reduce(counts: merge))]
fn wc_serial(text: &str) -> WordCounts<'_> {
    let mut counts = HashMap::new();
    for line in text.lines() {
        for word in line.split_whitespace() {
            *counts.entry(word).or_insert(0) += 1;
        }
    }
    counts
}

/// The fixed batch `batch = auto` used to be for an input of unknown length: 64 items,
/// a fresh map each, however cheap the items are.
#[bounded(batch = 64, reduce(counts: merge))]
fn wc_batch_64(text: &str) -> WordCounts<'_> {
    let mut counts = HashMap::new();
    for line in text.lines() {
        for word in line.split_whitespace() {
            *counts.entry(word).or_insert(0) += 1;
        }
    }
    counts
}

#[bounded(backend = serial, batch = 64, reduce(counts: merge))]
fn wc_serial_64(text: &str) -> WordCounts<'_> {
    let mut counts = HashMap::new();
    for line in text.lines() {
        for word in line.split_whitespace() {
            *counts.entry(word).or_insert(0) += 1;
        }
    }
    counts
}

fn wc_rayon(text: &str) -> WordCounts<'_> {
    text.par_lines()
        .fold(HashMap::new, |mut counts: WordCounts<'_>, line| {
            for word in line.split_whitespace() {
                *counts.entry(word).or_insert(0) += 1;
            }
            counts
        })
        .reduce(HashMap::new, |a, b| {
            let (mut a, b) = if a.len() < b.len() { (b, a) } else { (a, b) };
            for (word, n) in b {
                *a.entry(word).or_insert(0) += n;
            }
            a
        })
}

fn word_count(h: &mut Harness) {
    let text = text();
    let expected = wc_seq(&text);
    assert_eq!(expected.values().sum::<usize>(), LINES * WORDS_PER_LINE);
    assert_eq!(wc_bounded(&text), expected, "word count bounded");
    assert_eq!(wc_serial(&text), expected, "word count serial");
    assert_eq!(wc_rayon(&text), expected, "word count rayon");
    assert_eq!(wc_batch_64(&text), expected, "word count batch = 64");
    assert_eq!(
        wc_serial_64(&text),
        expected,
        "word count serial, batch = 64"
    );
    let text = &text;
    type F = for<'a> fn(&'a str) -> WordCounts<'a>;
    let v = |f: F| -> Run { Box::new(move || sink(black_box(f(black_box(text))))) };
    h.bench(
        "word count 100k lines (pulled)",
        1,
        vec![
            ("seq", v(wc_seq)),
            ("bounded", v(wc_bounded)),
            ("serial", v(wc_serial)),
            ("rayon", v(wc_rayon)),
            ("bounded, batch = 64", v(wc_batch_64)),
            ("serial, batch = 64", v(wc_serial_64)),
        ],
    );
}

// ================================================================= per-call cost

const SMALL: usize = 64;
const SMALL_CALLS: u32 = 2_000;

fn small_seq(xs: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(xs.len());
    for x in xs {
        out.push(x * 3 + 1);
    }
    out
}

fn small_bounded(xs: &[u64]) -> Vec<u64> {
    par_bounded!(for x in xs => x * 3 + 1)
}

fn small_cpus(xs: &[u64]) -> Vec<u64> {
    par_bounded!(limit = cpus; for x in xs => x * 3 + 1)
}

fn small_fixed(xs: &[u64]) -> Vec<u64> {
    par_bounded!(limit = 2; for x in xs => x * 3 + 1)
}

fn small_split(xs: &[u64]) -> Vec<u64> {
    par_bounded!(limit = 2, batch = 32; for x in xs => x * 3 + 1)
}

fn small_serial(xs: &[u64]) -> Vec<u64> {
    par_bounded!(backend = serial; for x in xs => x * 3 + 1)
}

fn small_rayon(xs: &[u64]) -> Vec<u64> {
    xs.par_iter().map(|x| x * 3 + 1).collect()
}

fn per_call(h: &mut Harness) {
    let xs: Vec<u64> = (0..SMALL as u64).collect();
    let expected = small_seq(&xs);
    type F = fn(&[u64]) -> Vec<u64>;
    let fs: [(&str, F); 7] = [
        ("seq", small_seq),
        ("bounded", small_bounded),
        ("limit = cpus", small_cpus),
        ("limit = 2", small_fixed),
        ("limit = 2, batch = 32 (two lanes)", small_split),
        ("serial", small_serial),
        ("rayon", small_rayon),
    ];
    for (name, f) in fs {
        assert_eq!(f(&xs), expected, "small collect {name}");
    }
    let xs = &xs;
    h.bench(
        "collect 64 items (per call)",
        SMALL_CALLS,
        fs.into_iter()
            .map(|(name, f)| {
                let run: Run = Box::new(move || {
                    for _ in 0..SMALL_CALLS {
                        black_box(f(black_box(xs)));
                    }
                });
                (name, run)
            })
            .collect(),
    );
}

// ================================================================ sum of squares

const SQUARES: usize = 20_000_000;

fn squares_seq(xs: &[u64]) -> u64 {
    let mut total = 0;
    for x in xs {
        total += x * x;
    }
    total
}

#[bounded(reduce(total: +))]
fn squares_bounded(xs: &[u64]) -> u64 {
    let mut total = 0;
    for x in xs {
        total += x * x;
    }
    total
}

#[bounded(backend = serial, reduce(total: +))]
fn squares_serial(xs: &[u64]) -> u64 {
    let mut total = 0;
    for x in xs {
        total += x * x;
    }
    total
}

fn squares_rayon(xs: &[u64]) -> u64 {
    xs.par_iter().map(|x| x * x).sum()
}

fn sum_of_squares(h: &mut Harness) {
    // Values below 2^16: 20M squares sum without overflow.
    let xs: Vec<u64> = (0..SQUARES as u64)
        .map(|i| i.wrapping_mul(2_654_435_761) % 65_536)
        .collect();
    let expected = squares_seq(&xs);
    assert_eq!(squares_bounded(&xs), expected, "squares bounded");
    assert_eq!(squares_serial(&xs), expected, "squares serial");
    assert_eq!(squares_rayon(&xs), expected, "squares rayon");
    let xs = &xs;
    type F = fn(&[u64]) -> u64;
    let v = |f: F| -> Run { Box::new(move || sink(black_box(f(black_box(xs))))) };
    h.bench(
        "sum of squares 20M u64",
        1,
        vec![
            ("seq", v(squares_seq)),
            ("bounded", v(squares_bounded)),
            ("serial", v(squares_serial)),
            ("rayon", v(squares_rayon)),
        ],
    );
}

// ====================================================== sum of squares over a range

/// `0..n` is an integer range: items are computed, not read from memory, so the loop
/// is all arithmetic and the batch loop's code is what the row measures. The `% 1024`
/// keeps the compiler from replacing the sequential loop by a closed formula.
const RANGE_SQUARES: u64 = 20_000_000;

fn range_squares_seq(n: u64) -> u64 {
    let mut total = 0;
    for x in 0..n {
        total += x * x % 1024;
    }
    total
}

#[bounded(reduce(total: +))]
fn range_squares_bounded(n: u64) -> u64 {
    let mut total = 0;
    for x in 0..n {
        total += x * x % 1024;
    }
    total
}

#[bounded(backend = serial, reduce(total: +))]
fn range_squares_serial(n: u64) -> u64 {
    let mut total = 0;
    for x in 0..n {
        total += x * x % 1024;
    }
    total
}

fn range_squares_rayon(n: u64) -> u64 {
    (0..n).into_par_iter().map(|x| x * x % 1024).sum()
}

fn sum_of_squares_range(h: &mut Harness) {
    let n = RANGE_SQUARES;
    let expected = range_squares_seq(n);
    assert_eq!(range_squares_bounded(n), expected, "range squares bounded");
    assert_eq!(range_squares_serial(n), expected, "range squares serial");
    assert_eq!(range_squares_rayon(n), expected, "range squares rayon");
    type F = fn(u64) -> u64;
    let v = |f: F| -> Run { Box::new(move || sink(black_box(f(black_box(n))))) };
    h.bench(
        "sum of squares over 0..20M (integer range)",
        1,
        vec![
            ("seq", v(range_squares_seq)),
            ("bounded", v(range_squares_bounded)),
            ("serial", v(range_squares_serial)),
            ("rayon", v(range_squares_rayon)),
        ],
    );
}

// ================================================================ pool threads

/// Loops on one pool one after another, each of `limit` lanes that sleep a little per
/// item (a blocking call's shape): the pool should run them on the workers the last
/// loop used, not start new ones beside workers still on their way back.
const BACK_TO_BACK_LOOPS: usize = 40;

fn back_to_back_peak(limit: usize) -> usize {
    // Configured as the shared `bounded-io` pool is; a pool of its own, so no other
    // program's loops are in its peak.
    let pool = bounded::Pool::builder()
        .name("back-to-back")
        .workers(0..=1024)
        .queue(1024)
        .build()
        .expect("a valid pool");
    let xs: Vec<u64> = (0..limit as u64 * 10).collect();
    for _ in 0..BACK_TO_BACK_LOOPS {
        par_bounded!(pool = pool, limit = limit, batch = 1; for x in &xs {
            std::thread::sleep(Duration::from_micros(50 + x % 7 * 10));
        });
    }
    pool.stats().peak_workers
}

fn pool_threads(_: &mut Harness) {
    println!("\n## pool threads, loops back to back\n");
    println!("| loop | loops | peak workers |");
    println!("| --- | ---: | ---: |");
    for limit in [16, 64] {
        let peak = back_to_back_peak(limit);
        println!(
            "| `backend = pool, limit = {limit}, batch = 1` | {BACK_TO_BACK_LOOPS} | {peak} |"
        );
    }
}

// ========================================================================== main

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut h = Harness {
        filters,
        rows: Vec::new(),
    };
    println!(
        "# real programs\n\ncpus: {}, load average before: {}",
        bounded::available_cpus(),
        loadavg()
    );
    type Program = fn(&mut Harness);
    let programs: [(&str, Program); 13] = [
        ("spectral", spectral),
        ("mandelbrot", mandelbrot),
        ("fannkuch", fannkuch),
        ("knucleotide", knucleotide),
        ("nbody", nbody),
        ("matmul", matmul),
        ("life", game_of_life),
        ("mergesort", merge_sort),
        ("wordcount", word_count),
        ("percall", per_call),
        ("sum", sum_of_squares),
        ("range", sum_of_squares_range),
        ("threads", pool_threads),
    ];
    let started = Instant::now();
    for (name, program) in programs {
        if h.wants(name) {
            program(&mut h);
        }
    }
    h.summary();
    println!(
        "\nload average after: {}; total {:.0} s",
        loadavg(),
        started.elapsed().as_secs_f64()
    );
}
