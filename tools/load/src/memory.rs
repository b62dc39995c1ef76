//! Resident memory of the servers under test, from `/proc/<pid>/status` (Linux).

use serde::{Deserialize, Serialize};

/// One process's resident memory, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resident {
    /// `VmRSS`: resident now.
    pub now_kib: u64,
    /// `VmHWM`: the most it has been resident since it started.
    pub peak_kib: u64,
}

impl Resident {
    /// Process `pid`'s figures; `None` where `/proc` does not have them.
    pub fn of(pid: u32) -> Option<Resident> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Some(Resident {
            now_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }
}

/// The issuer's and the hello server's memory at rest (started, nothing sent yet) and at the end of
/// the run (the peak under load).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// The issuer before any request.
    pub issuer_at_rest_kib: u64,
    /// The most the issuer was resident during the run.
    pub issuer_peak_kib: u64,
    /// The hello server before any request.
    pub hello_at_rest_kib: u64,
    /// The most the hello server was resident during the run.
    pub hello_peak_kib: u64,
}

impl MemoryReport {
    /// From the at-rest readings and the readings after the run.
    pub fn new(issuer: (Resident, Resident), hello: (Resident, Resident)) -> MemoryReport {
        MemoryReport {
            issuer_at_rest_kib: issuer.0.now_kib,
            issuer_peak_kib: issuer.1.peak_kib,
            hello_at_rest_kib: hello.0.now_kib,
            hello_peak_kib: hello.1.peak_kib,
        }
    }

    /// One line for the table.
    pub fn line(&self) -> String {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        format!(
            "memory (resident): issuer {:.1} MiB at rest, {:.1} MiB peak; hello {:.1} MiB at rest, \
             {:.1} MiB peak; issuer / hello {:.2} at rest, {:.2} peak\n",
            self.issuer_at_rest_kib as f64 / 1024.0,
            self.issuer_peak_kib as f64 / 1024.0,
            self.hello_at_rest_kib as f64 / 1024.0,
            self.hello_peak_kib as f64 / 1024.0,
            ratio(self.issuer_at_rest_kib, self.hello_at_rest_kib),
            ratio(self.issuer_peak_kib, self.hello_peak_kib),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_resident_memory() {
        let me = Resident::of(std::process::id()).expect("/proc/self/status");
        assert!(me.now_kib > 0 && me.peak_kib >= me.now_kib, "{me:?}");
    }
}
