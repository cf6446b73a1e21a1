//! A fixed-rate HTTP load for `scripts/bench`: RATE requests per second for SECONDS,
//! alternating over the PATHS, on one keep-alive connection per path. Latency is measured
//! from each request's *scheduled* time, so a stall is not hidden by requests that were
//! never sent (coordinated omission). Prints one JSON line per path.
//!
//!     cargo run --release --example loadgen -- BASE-URL RATE SECONDS PATH…

use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (base, rate, secs) = (
        &args[1],
        args[2].parse::<u64>().unwrap(),
        args[3].parse::<u64>().unwrap(),
    );
    let paths = &args[4..];
    let agents: Vec<ureq::Agent> = paths
        .iter()
        .map(|_| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into()
        })
        .collect();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let total = rate * secs;
    let mut lat: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut failed = vec![0u64; paths.len()];
    let start = Instant::now();
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let k = i as usize % paths.len();
        let ok = match agents[k].get(&format!("{base}{}", paths[k])).call() {
            Ok(mut r) => r.status().as_u16() == 200 && r.body_mut().read_to_vec().is_ok(),
            Err(_) => false,
        };
        lat[k].push(scheduled.elapsed().as_secs_f64() * 1000.0);
        if !ok {
            failed[k] += 1;
        }
    }
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    for (k, p) in paths.iter().enumerate() {
        let mut l = lat[k].clone();
        l.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{}",
            serde_json::json!({"path": p, "requests": l.len(), "failed": failed[k],
                "rate_per_s": (achieved * 100.0).round() / 100.0,
                "p50_ms": percentile(&l, 50.0), "p95_ms": percentile(&l, 95.0),
                "p99_ms": percentile(&l, 99.0), "max_ms": l.last().copied().unwrap_or(f64::NAN)})
        );
    }
}
