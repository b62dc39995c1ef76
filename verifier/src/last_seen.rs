//! The latest time an app has seen, kept in a file, so that a clock turned back can be noticed.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tessera_keys::UnixTime;

/// A file holding the latest time the app has seen, as decimal Unix seconds.
///
/// Read it before [`Verifier::verify_activated`](crate::Verifier::verify_activated) and record `now`
/// after a successful check. Recording never moves the time back, and replaces the file in one step
/// (write a sibling, then rename), so a crash leaves the old or the new time, never a torn one.
/// Deleting the file forgets the time: it raises the bar for turning a clock back, it cannot make it
/// impossible on a machine the user controls.
#[derive(Clone, Debug)]
pub struct LastSeenFile {
    path: PathBuf,
}

impl LastSeenFile {
    /// The file at `path` (created on the first [`LastSeenFile::record`]).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LastSeenFile { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The time recorded, `None` if nothing was recorded yet. A file that does not hold a time is
    /// an error of kind `InvalidData`.
    pub fn read(&self) -> io::Result<Option<UnixTime>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        text.trim()
            .parse()
            .map(|seconds| Some(UnixTime(seconds)))
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the last-seen file does not hold a time",
                )
            })
    }

    /// Records `now` if it is later than the time recorded; returns the time the file now holds.
    pub fn record(&self, now: UnixTime) -> io::Result<UnixTime> {
        let latest = match self.read() {
            Ok(Some(seen)) if seen >= now => return Ok(seen),
            _ => now,
        };
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = fs::File::create(&temporary)?;
        writeln!(file, "{}", latest.0)?;
        file.sync_all()?;
        fs::rename(&temporary, &self.path)?;
        Ok(latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_move_forward_and_garbage_is_an_error() {
        let dir =
            std::env::temp_dir().join(std::format!("tessera-last-seen-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = LastSeenFile::new(dir.join("last-seen"));
        assert_eq!(file.read().unwrap(), None);
        assert_eq!(file.record(UnixTime(200)).unwrap(), UnixTime(200));
        assert_eq!(file.record(UnixTime(100)).unwrap(), UnixTime(200));
        assert_eq!(file.read().unwrap(), Some(UnixTime(200)));
        fs::write(file.path(), "yesterday").unwrap();
        assert_eq!(file.read().unwrap_err().kind(), io::ErrorKind::InvalidData);
        fs::remove_dir_all(&dir).unwrap();
    }
}
