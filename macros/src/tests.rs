//! Expansion snapshots: the code each option generates, pretty-printed. The book
//! includes these files, so a change to the generated code fails here until the
//! snapshot — and with it the book — is reviewed and updated (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo test -p bounded-macros` and a look at the diff).

use proc_macro2::TokenStream;
use syn::visit_mut::{self, VisitMut};

use crate::pipeline::{bounded_attr, par_bounded};

/// Expands every `#[bounded]` function and `par_bounded!` call in `src`, as the compiler
/// would, and pretty-prints the result.
fn expand_all(src: &str) -> String {
    let mut file: syn::File = syn::parse_str(src).expect("test source parses");
    Expander.visit_file_mut(&mut file);
    prettyplease::unparse(&file)
}

struct Expander;

impl Expander {
    fn attr_args(attrs: &mut Vec<syn::Attribute>) -> Option<TokenStream> {
        Self::named_args(attrs, "bounded")
    }

    fn named_args(attrs: &mut Vec<syn::Attribute>, name: &str) -> Option<TokenStream> {
        let i = attrs.iter().position(|a| a.path().is_ident(name))?;
        let attr = attrs.remove(i);
        Some(match attr.meta {
            syn::Meta::List(l) => l.tokens,
            _ => TokenStream::new(),
        })
    }
}

impl VisitMut for Expander {
    fn visit_item_mut(&mut self, item: &mut syn::Item) {
        if let syn::Item::Fn(f) = item {
            let mut f2 = f.clone();
            if let Some(args) = Self::attr_args(&mut f2.attrs) {
                *item = syn::parse2(bounded_attr(args, quote::quote!(#f2)))
                    .expect("expansion is an item");
            } else if let Some(args) = Self::named_args(&mut f2.attrs, "gate") {
                *item = syn::parse2(crate::gate::gate_attr(args, quote::quote!(#f2)))
                    .expect("expansion is an item");
            }
        }
        visit_mut::visit_item_mut(self, item);
    }

    fn visit_impl_item_fn_mut(&mut self, f: &mut syn::ImplItemFn) {
        let mut f2 = f.clone();
        if let Some(args) = Self::attr_args(&mut f2.attrs) {
            *f =
                syn::parse2(bounded_attr(args, quote::quote!(#f2))).expect("expansion is a method");
        }
        visit_mut::visit_impl_item_fn_mut(self, f);
    }

    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        if let syn::Expr::Macro(m) = e {
            if m.mac.path.is_ident("par_bounded") {
                let out = par_bounded(m.mac.tokens.clone());
                *e = syn::parse2(out).expect("expansion is an expression");
            }
        }
        visit_mut::visit_expr_mut(self, e);
    }

    fn visit_stmt_mut(&mut self, s: &mut syn::Stmt) {
        if let syn::Stmt::Macro(m) = s {
            if m.mac.path.is_ident("par_bounded") {
                let out = par_bounded(m.mac.tokens.clone());
                let e: syn::Expr = syn::parse2(out).expect("expansion is an expression");
                *s = syn::Stmt::Expr(e, Some(Default::default()));
            }
        }
        visit_mut::visit_stmt_mut(self, s);
    }
}

macro_rules! snapshot {
    ($name:ident, $src:expr) => {
        #[test]
        fn $name() {
            insta::with_settings!({
                snapshot_path => "../snapshots",
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(stringify!($name), expand_all($src));
            });
        }
    };
}

snapshot!(
    fanout,
    r#"
fn resize_all(paths: &[PathBuf]) {
    par_bounded!(limit = 8; for path in paths {
        resize(path);
    });
}
"#
);

snapshot!(
    batching,
    r#"
#[bounded(limit = cpus, batch = 4096, reduce(total: +))]
fn sum(xs: &[u64]) -> u64 {
    let mut total = 0;
    for x in xs {
        total += x;
    }
    total
}
"#
);

snapshot!(
    with_state,
    r#"
#[bounded(limit = 4, with(buf = Vec::with_capacity(64 * 1024)))]
fn compress_all(files: &[File]) {
    for file in files {
        buf.clear();
        compress_into(file, buf);
    }
}
"#
);

snapshot!(
    reduce_sum,
    r#"
#[bounded(limit = 8, batch = 256, reduce(total: +))]
fn total_len(lines: &[String]) -> usize {
    let mut total = 0;
    for line in lines {
        total += line.len();
    }
    total
}
"#
);

snapshot!(
    reduce_merge,
    r#"
#[bounded(reduce(counts: merge))]
fn word_counts(lines: &[String]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in lines {
        for word in line.split_whitespace() {
            *counts.entry(word.to_string()).or_insert(0) += 1;
        }
    }
    counts
}
"#
);

snapshot!(
    reduce_extend,
    r#"
#[bounded(limit = 2, batch = 1, reduce(last_seen: extend))]
fn last_seen(events: &[(u32, u64)]) -> HashMap<u32, u64> {
    let mut last_seen = HashMap::new();
    for (user, ts) in events {
        last_seen.insert(*user, *ts);
    }
    last_seen
}
"#
);

snapshot!(
    reduce_last,
    r#"
#[bounded(limit = 4, reduce(newest: last, total: +))]
fn newest_error(lines: &[Line]) -> (String, usize) {
    let mut newest = String::new();
    let mut total = 0;
    for line in lines {
        if line.is_error() {
            newest = line.text.clone();
        }
        total += 1;
    }
    (newest, total)
}
"#
);

snapshot!(
    reduce_append,
    r#"
#[bounded(limit = 4, reduce(evens: append, largest: max, all_small: &&))]
fn scan(xs: &[i64]) -> (Vec<i64>, i64, bool) {
    let mut evens = Vec::new();
    let mut largest = i64::MIN;
    let mut all_small = true;
    for &x in xs {
        if x % 2 == 0 {
            evens.push(x);
        }
        largest = largest.max(x);
        all_small = all_small && x < 1000;
    }
    (evens, largest, all_small)
}
"#
);

snapshot!(
    fail_fast,
    r#"
#[bounded(limit = 4, batch = 16)]
fn check_all(paths: &[PathBuf]) -> io::Result<()> {
    for path in paths {
        let meta = fs::metadata(path)?;
        if meta.len() == 0 {
            continue;
        }
        validate(&meta)?;
    }
    Ok(())
}
"#
);

snapshot!(
    keep_going,
    r#"
#[bounded(limit = 4, keep_going, reduce(ok: +))]
fn import_all(rows: &[Row]) -> Result<usize, ImportError> {
    let mut ok = 0;
    for row in rows {
        if row.is_empty() {
            continue;
        }
        insert(row)?;
        ok += 1;
    }
    Ok(ok)
}
"#
);

snapshot!(
    schedule_static,
    r#"
fn f(xs: &[u64]) {
    par_bounded!(schedule = static; for x in xs { work(x); });
}
"#
);

snapshot!(
    schedule_guided,
    r#"
fn f(xs: &[u64]) {
    par_bounded!(schedule = guided, batch = 8; for x in xs { work(x); });
}
"#
);

snapshot!(
    schedule_steal,
    r#"
fn f(xs: &[u64]) {
    par_bounded!(limit = cpus, schedule = steal; for x in xs { work(x); });
}
"#
);

snapshot!(
    limit_cpus,
    r#"
fn f(xs: &[u64]) {
    par_bounded!(limit = cpus * 2; for x in xs { work(x); });
}
"#
);

snapshot!(
    limit_little,
    r#"
fn f(urls: Vec<Url>) {
    par_bounded!(limit = little(rate = 500, latency = 200ms), batch = 1; for url in urls {
        fetch(url);
    });
}
"#
);

snapshot!(
    limit_adaptive,
    r#"
#[bounded(backend = pool, limit = adaptive(max = 64), batch = 1)]
fn fetch_all(urls: &[Url]) -> Result<(), FetchError> {
    for url in urls {
        fetch(url)?;
    }
    Ok(())
}
"#
);

snapshot!(
    async_adaptive_keep_going,
    r#"
#[bounded(limit = adaptive(max = 64, min = 2, initial = 8), keep_going)]
async fn notify_all(users: &[User], client: &Client) -> Result<(), SendError> {
    for user in users {
        client.send(user).await?;
    }
    Ok(())
}
"#
);

snapshot!(
    collect,
    r#"
fn f(xs: &[u64]) -> Vec<u64> {
    let squares: Vec<u64> = par_bounded!(limit = 4; for x in xs => x * x);
    squares
}
"#
);

snapshot!(
    if_clause,
    r#"
fn f(xs: &[u64]) {
    par_bounded!(if = xs.len() > 10_000; for x in xs { work(x); });
}
"#
);

snapshot!(
    timely_backend,
    r#"
#[bounded(backend = timely, batch = 1024, reduce(total: +, seen: merge))]
fn sum_of_squares(n: u64) -> Result<(u64, BTreeSet<u32>), String> {
    let mut total = 0;
    let mut seen = BTreeSet::new();
    for x in 0..n {
        if x == u64::MAX {
            Err("too far".to_string())?;
        }
        total += x * x;
        seen.insert(std::process::id());
    }
    Ok((total, seen))
}
"#
);

snapshot!(
    timely_infallible,
    r#"
fn squares(xs: &[u64]) -> Vec<u64> {
    par_bounded!(backend = timely, limit = 4; for x in xs => x * x)
}
"#
);

snapshot!(
    serial_backend,
    r#"
#[bounded(backend = serial, reduce(n: +))]
fn count(xs: &[u64]) -> usize {
    let mut n = 0;
    for x in xs {
        if *x > 3 {
            n += 1;
        }
    }
    n
}
"#
);

snapshot!(
    nested,
    r#"
#[bounded(limit = 2)]
fn outer(rows: &[Vec<u64>]) {
    for row in rows {
        par_bounded!(limit = 2; for x in row { work(x); });
    }
}
"#
);

snapshot!(
    method,
    r#"
impl Index {
    #[bounded(limit = 4, reduce(found: ||))]
    fn contains_any(&self, keys: &[Key]) -> bool {
        let mut found = false;
        for key in keys {
            found = found || self.lookup(key);
        }
        found
    }
}
"#
);

snapshot!(
    crate_path,
    r#"
fn f(xs: &[u64]) {
    par_bounded!(crate = ::my_bounded, limit = 2; for x in xs { work(x); });
}
"#
);

snapshot!(
    name,
    r#"
#[bounded(name = "thumbnails", limit = 4)]
fn thumbnails(images: &[Image]) {
    for image in images.iter().enumerate() {
        thumbnail(image);
    }
}
"#
);

snapshot!(
    serial_loop_and_override,
    r#"
#[bounded(limit = 8)]
fn two_loops(xs: &[u64], ys: &[u64]) {
    #[serial]
    for x in xs {
        work(x);
    }
    #[bounded(limit = 2, batch = 1)]
    for y in ys {
        work(y);
    }
}
"#
);

snapshot!(
    pool_fanout,
    r#"
#[bounded(backend = pool, limit = 64, batch = 1)]
fn fetch_all(urls: &[Url]) -> Result<(), FetchError> {
    for url in urls {
        let body = http_get(url)?;
        store(url, &body)?;
    }
    Ok(())
}
"#
);

snapshot!(
    pool_named,
    r#"
static UPLOADS: LazyLock<Pool> = LazyLock::new(|| {
    Pool::builder().name("uploads").workers(4..=32).prestart().build().unwrap()
});

#[bounded(pool = UPLOADS, limit = 16)]
fn upload_all(files: &[PathBuf]) {
    for file in files {
        upload(file);
    }
}
"#
);

snapshot!(
    backpressure,
    r#"
fn index(lines: Receiver<String>) {
    par_bounded!(backend = pool, limit = 8, batch = 256, queue = 16; for line in lines {
        index_line(&line);
    });
}
"#
);

snapshot!(
    load_shedding,
    r#"
#[bounded(backend = pool, limit = 4, queue = 32, on_full = drop, name = "metrics")]
fn publish(samples: Receiver<Sample>) {
    for sample in samples {
        send(sample);
    }
}
"#
);

snapshot!(
    reject_when_full,
    r#"
#[bounded(backend = pool, limit = 4, queue = 8, on_full = reject)]
fn submit_all(jobs: Vec<Job>) -> Result<(), SubmitError> {
    for job in jobs {
        submit(job)?;
    }
    Ok(())
}
"#
);

snapshot!(
    caller_runs,
    r#"
#[bounded(backend = pool, limit = 4, queue = 0, on_full = caller_runs)]
fn compress_all(blocks: &mut [Block]) {
    for block in blocks {
        block.compress();
    }
}
"#
);

snapshot!(
    rate_limited,
    r#"
#[bounded(backend = pool, limit = 16, rate = 50 / s, burst = 10)]
fn notify_all(users: &[User], api: &Api) -> Result<(), ApiError> {
    for user in users {
        api.notify(user)?;
    }
    Ok(())
}
"#
);

snapshot!(
    async_rate_value,
    r#"
async fn poll_feeds(feeds: Vec<Feed>, quota: Rate) -> Result<(), FetchError> {
    par_bounded!(limit = 8, rate = quota; for feed in feeds {
        feed.refresh().await?;
    });
    Ok(())
}
"#
);

snapshot!(
    deadline_and_token,
    r#"
#[bounded(backend = pool, limit = 32, timeout = 5s, cancel = shutdown)]
fn crawl(pages: &[Url], shutdown: &CancelToken) -> Result<(), CrawlError> {
    for page in pages {
        crawl_page(page)?;
    }
    Ok(())
}
"#
);

snapshot!(
    gate_limit,
    r#"
#[gate(limit = 4)]
fn render(page: &Page) -> Html {
    expensive_render(page)
}
"#
);

snapshot!(
    gate_reject_weighted,
    r#"
#[gate(limit = 64, on_full = reject, weight = bytes.len() / 4096 + 1)]
async fn upload(bytes: &[u8]) -> Result<(), UploadError> {
    store.put(bytes).await?;
    Ok(())
}
"#
);

snapshot!(
    gate_coalesce,
    r#"
#[gate(limit = 8, coalesce)]
fn user_profile(id: u64, locale: &str) -> Result<Profile, DbError> {
    db::load_profile(id, locale)
}
"#
);

snapshot!(
    async_fanout,
    r#"
#[bounded(limit = 64, reduce(bytes: +))]
async fn download_all(urls: &[Url], client: &Client) -> Result<u64, FetchError> {
    let mut bytes = 0;
    for url in urls {
        let body = client.get(url).await?;
        bytes += body.len() as u64;
    }
    Ok(bytes)
}
"#
);

snapshot!(
    async_keep_going,
    r#"
async fn notify_all(users: Vec<User>, mailer: &Mailer) -> Result<(), MailError> {
    par_bounded!(limit = 16, batch = 1, keep_going, timeout = 30s; for user in users {
        mailer.send(&user.email).await?;
    });
    Ok(())
}
"#
);

snapshot!(
    weighted_items,
    r#"
#[bounded(backend = pool, limit = 16, batch = 1, weight = job.megabytes())]
fn transcode(jobs: &[Job]) {
    for job in jobs {
        job.run();
    }
}
"#
);

snapshot!(
    keyed_dispatch,
    r#"
#[bounded(backend = pool, limit = 8, batch = 32, key = event.account_id)]
fn apply_all(events: Receiver<Event>, ledger: &Ledger) {
    for event in events {
        ledger.apply(&event);
    }
}
"#
);

snapshot!(
    async_stream_shedding,
    r#"
async fn forward(events: impl Stream<Item = Event>, sink: &Sink) {
    par_bounded!(limit = 32, batch = 1, queue = 64, on_full = drop, name = "forward"; for event in events {
        sink.send(event).await;
    });
}
"#
);

snapshot!(
    early_exit_return,
    r#"
#[bounded(limit = 8, batch = 256)]
fn find_file(paths: &[PathBuf], needle: &str) -> Option<PathBuf> {
    for path in paths {
        if path.ends_with(needle) {
            return Some(path.clone());
        }
    }
    None
}
"#
);

snapshot!(
    early_exit_break,
    r#"
#[bounded(limit = 8, reduce(checked: +))]
fn check_until_bad(rows: &[Row]) -> usize {
    let mut checked = 0;
    for row in rows {
        if !row.is_valid() {
            break;
        }
        checked += 1;
    }
    checked
}
"#
);

snapshot!(
    progress_labelled,
    r#"
fn resize_all(paths: &[PathBuf]) {
    par_bounded!(limit = 8, progress = "resize"; for path in paths {
        resize(path);
    });
}
"#
);
