//! The machine a run was made on: CPUs, load, and what a durable commit costs where the issuer's
//! data lives.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::stats;

/// The machine a run was made on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub cpus: usize,
    /// `model name` from `/proc/cpuinfo`, if there is one.
    pub cpu_model: Option<String>,
    /// 1-, 5- and 15-minute load averages before the run (`/proc/loadavg`).
    pub load_average_before: Option<[f64; 3]>,
    /// The same after the run.
    pub load_average_after: Option<[f64; 3]>,
    /// The file system type (from `/proc/self/mounts`) holding the issuer's temporary data directory:
    /// SQLite's fsync costs what this file system and its disk make it cost (nothing on tmpfs).
    pub data_filesystem: Option<String>,
    /// Median time of a 4 KiB append and `fdatasync` (what SQLite does to commit in WAL mode with
    /// `synchronous=FULL`) in that directory, in milliseconds, over 200 tries before the run.
    pub fsync_p50_ms: Option<f64>,
    /// The slowest of those 200, in milliseconds: how much a shared disk can stall a commit.
    pub fsync_max_ms: Option<f64>,
}

impl Machine {
    /// The machine now, with the load average before the run.
    pub fn now() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            });
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            load_average_before: load_average(),
            load_average_after: None,
            data_filesystem: None,
            fsync_p50_ms: None,
            fsync_max_ms: None,
        }
    }

    /// Notes the file system of `dir`, where the issuer keeps its data, and what an append and
    /// `fdatasync` costs there.
    pub fn probe_data_dir(&mut self, dir: &Path) {
        self.data_filesystem = filesystem_of(dir);
        if let Ok((median, max)) = fsync_times(dir) {
            self.fsync_p50_ms = Some(median.as_secs_f64() * 1e3);
            self.fsync_max_ms = Some(max.as_secs_f64() * 1e3);
        }
    }

    /// Notes the load average after the run.
    pub fn finish(&mut self) {
        self.load_average_after = load_average();
    }

    /// The first lines of a report's table: the run's shape and this machine.
    pub fn header(&self, rounds: usize, concurrency: usize, warmup: usize) -> String {
        let mut out = String::new();
        let load =
            |l: Option<[f64; 3]>| l.map_or_else(|| "?".to_owned(), |l| format!("{:.2}", l[0]));
        let _ = writeln!(
            out,
            "tessera-load: {rounds} round(s), concurrency {concurrency}, warm-up {warmup} per \
             server, loopback; {} CPU(s){}; load average {} before, {} after",
            self.cpus,
            self.cpu_model
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default(),
            load(self.load_average_before),
            load(self.load_average_after),
        );
        if let Some(fs) = &self.data_filesystem {
            let _ = write!(out, "issuer data directory on {fs}");
            if let (Some(median), Some(max)) = (self.fsync_p50_ms, self.fsync_max_ms) {
                let _ = write!(
                    out,
                    "; 4 KiB append + fdatasync there: median {median:.3} ms, max {max:.1} ms"
                );
            }
            let _ = writeln!(out);
        }
        out
    }
}

/// The median and the slowest time of appending 4 KiB to a file in `dir` and `fdatasync`ing it.
fn fsync_times(dir: &Path) -> std::io::Result<(Duration, Duration)> {
    use std::io::Write as _;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5au8; 4096];
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let start = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        times.push(start.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path)?;
    times.sort_unstable();
    let median = stats::percentile(&times, 50.0).unwrap_or_default();
    Ok((median, times.last().copied().unwrap_or_default()))
}

/// The type of the file system mounted closest above `path` (Linux only).
fn filesystem_of(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_device, mount_point, fs_type) = (fields.next()?, fields.next()?, fields.next()?);
            // Mount points escape spaces as \040; such paths simply never match.
            path.starts_with(mount_point)
                .then(|| (mount_point.len(), fs_type.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs_type)| fs_type)
}

fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    ])
}
