//! Store benchmark: generated reads over N days and M cameras into one agency store; measures
//! ingest (batched commits, with and without 4 KB crops), exact / prefix / wildcard / fuzzy search
//! latency (each an audited, durable search), store reopen time (vocabulary decryption), purge of
//! one day, and bytes per read. Prints a table, then one JSON object on the last line.

// The appliance's allocator (see benches/src/lib.rs).
benches::allocator!();

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use benches::synth::{DAY, Rng, ingest, percentile, plate, pool_size};
use clap::Parser;
use custos_store::{Access, AgencyStore, Layout, ManualClock, PlateQuery, Search, StoreOptions};

#[derive(Parser)]
#[command(about = "Custos store benchmark")]
struct Args {
    /// Reads to generate (spread evenly over --days).
    #[arg(long, default_value_t = 1_000_000)]
    reads: u64,
    #[arg(long, default_value_t = 30)]
    days: u64,
    #[arg(long, default_value_t = 100)]
    cameras: u64,
    /// Reads per commit.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Queries of each kind.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Reads ingested with 4 KB crops (a separate agency), default reads/20 capped at 200 k.
    #[arg(long)]
    crop_reads: Option<u64>,
    /// Where to put the stores (default: a temporary directory).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

const START: u64 = 1_717_200_000_000; // 2024-06-01

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    let layout = Layout::new(&root);
    let end = START + args.days * DAY;
    let clock = ManualClock::new(end);
    let opts = || StoreOptions {
        clock: Arc::new(clock.clone()),
        key_provider: None,
        cache_bytes: 1 << 30,
    };
    let pool = pool_size(args.reads);
    let _ = args.cameras; // cameras are drawn from 100 ids
    eprintln!(
        "store bench: {} reads over {} days, {} distinct plates, batches of {}",
        args.reads, args.days, pool, args.batch
    );

    let store = AgencyStore::create(&layout, "bench", opts())?;
    let ingest_rate = ingest(
        &store, START, args.reads, args.days, args.batch, false, pool,
    )?;
    let bytes = store.file_bytes()?;

    let crop_reads = args
        .crop_reads
        .unwrap_or((args.reads / 20).clamp(1_000, 200_000));
    let crops = AgencyStore::create(&layout, "bench-crops", opts())?;
    let crop_rate = ingest(&crops, START, crop_reads, args.days, args.batch, true, pool)?;
    let crop_bytes = crops.file_bytes()? as f64 / crop_reads as f64;
    drop(crops);

    // Queries over the whole window.
    let who = Access::new("bench", "benchmark");
    let mut rng = Rng(99);
    let mut run =
        |mk: &mut dyn FnMut(&mut Rng) -> PlateQuery| -> Result<(Vec<f64>, Vec<f64>, u64)> {
            let mut lat = Vec::new();
            let mut audited = Vec::new();
            let mut hits = 0;
            for i in 0..args.queries {
                let q = mk(&mut rng);
                let s = Search {
                    query: q,
                    from_ms: START,
                    to_ms: end,
                    limit: 100,
                };
                // Alternate: the lookup alone (the gRPC layer writes the audit entry itself) and the
                // self-audited search (one more durable commit).
                let t = Instant::now();
                let r = if i % 2 == 0 {
                    store.find(&s)?
                } else {
                    store.search(&who, &s)?
                };
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                if i % 2 == 0 {
                    lat.push(ms)
                } else {
                    audited.push(ms)
                }
                hits += r.reads.len() as u64;
            }
            Ok((lat, audited, hits))
        };
    let (mut exact, mut exact_a, exact_hits) = run(&mut |r: &mut Rng| PlateQuery::Exact {
        plate: plate(r.vehicle(pool)),
    })?;
    let (mut prefix, mut prefix_a, prefix_hits) = run(&mut |r: &mut Rng| PlateQuery::Prefix {
        prefix: plate(r.vehicle(pool))[..4].to_owned(),
    })?;
    let (mut wild, mut wild_a, wild_hits) = run(&mut |r: &mut Rng| {
        let mut p: Vec<u8> = plate(r.vehicle(pool)).into_bytes();
        p[1] = b'?';
        p[5] = b'?';
        p.truncate(6);
        p.push(b'*');
        PlateQuery::Wildcard {
            pattern: String::from_utf8(p).unwrap_or_default(),
        }
    })?;
    let (mut fuzzy, mut fuzzy_a, fuzzy_hits) = run(&mut |r: &mut Rng| {
        let mut p: Vec<u8> = plate(r.vehicle(pool)).into_bytes();
        p[2] = b'8';
        PlateQuery::Fuzzy {
            plate: String::from_utf8(p).unwrap_or_default(),
            max_edits: 2,
        }
    })?;

    drop(store);
    let t = Instant::now();
    let store = AgencyStore::open(&layout, "bench", opts())?;
    let reopen_s = t.elapsed().as_secs_f64();

    // Purge exactly the oldest day.
    clock.set(START + 31 * DAY + DAY / 1000);
    store.set_policy(
        &who,
        &custos_store::RetentionPolicy {
            reads_days: 30,
            ..Default::default()
        },
    )?;
    let t = Instant::now();
    let report = store.purge()?;
    let purge_s = t.elapsed().as_secs_f64();

    let row = |name: &str, v: &mut Vec<f64>, a: &mut Vec<f64>, hits: u64| {
        println!(
            "{:<10} lookup p50 {:>7.2} ms  p99 {:>7.2} ms | audited p50 {:>7.2} ms  p99 {:>7.2} ms  ({} queries, {:.1} reads/query)",
            name,
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(a, 0.5),
            percentile(a, 0.99),
            v.len() + a.len(),
            hits as f64 / (v.len() + a.len()).max(1) as f64
        )
    };
    println!(
        "reads {}   days {}   distinct plates {}   batch {}",
        args.reads, args.days, pool, args.batch
    );
    println!("ingest (no crops)   {ingest_rate:>10.0} reads/s");
    println!("ingest (4 KB crops) {crop_rate:>10.0} reads/s   ({crop_reads} reads)");
    println!(
        "bytes per read      {:>10.0} (no crops)   {:.0} (4 KB crops)",
        bytes as f64 / args.reads as f64,
        crop_bytes
    );
    row("exact", &mut exact, &mut exact_a, exact_hits);
    row("prefix", &mut prefix, &mut prefix_a, prefix_hits);
    row("wildcard", &mut wild, &mut wild_a, wild_hits);
    row("fuzzy", &mut fuzzy, &mut fuzzy_a, fuzzy_hits);
    println!("reopen (vocabulary load) {reopen_s:.2} s");
    println!(
        "purge one day       {purge_s:.2} s   ({} days, {} reads, {} keys destroyed)",
        report.days_purged.len(),
        report.reads_deleted,
        report.keys_destroyed.len()
    );
    println!(
        "{}",
        serde_json::json!({
            "ingest_reads_per_s": ingest_rate.round(),
            "ingest_with_crops_reads_per_s": crop_rate.round(),
            "exact_p50_ms": percentile(&mut exact, 0.5),
            "exact_p99_ms": percentile(&mut exact, 0.99),
            "prefix_p99_ms": percentile(&mut prefix, 0.99),
            "exact_audited_p99_ms": percentile(&mut exact_a, 0.99),
            "wildcard_audited_p99_ms": percentile(&mut wild_a, 0.99),
            "fuzzy_audited_p99_ms": percentile(&mut fuzzy_a, 0.99),
            "wildcard_p50_ms": percentile(&mut wild, 0.5),
            "wildcard_p99_ms": percentile(&mut wild, 0.99),
            "fuzzy_p50_ms": percentile(&mut fuzzy, 0.5),
            "fuzzy_p99_ms": percentile(&mut fuzzy, 0.99),
            "purge_day_s": purge_s,
            "reopen_s": reopen_s,
            "bytes_per_read": bytes as f64 / args.reads as f64,
            "reads": args.reads,
        })
    );
    Ok(())
}
