//! What this machine is: CPUs, memory, disk, kernel and OS, read from /proc, /etc and statvfs.

use std::path::Path;

/// Facts about the host the Node reports.
#[derive(Debug, Clone)]
pub struct Host {
    pub cpus: usize,
    pub memory_bytes: u64,
    pub memory_available_bytes: u64,
    /// Size and free space of the filesystem holding the agent's data.
    pub disk_bytes: u64,
    pub disk_available_bytes: u64,
    pub pid_max: u64,
    pub processes: u64,
    pub kernel: String,
    pub os_image: String,
    pub machine_id: String,
    pub boot_id: String,
    pub arch: &'static str,
}

impl Host {
    pub fn read(data_dir: &Path) -> Host {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let (disk_bytes, disk_available_bytes) = nix::sys::statvfs::statvfs(data_dir)
            .map(|s| (s.blocks() * s.fragment_size(), s.blocks_available() * s.fragment_size()))
            .unwrap_or((0, 0));
        Host {
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_bytes: meminfo_kib(&meminfo, "MemTotal") * 1024,
            memory_available_bytes: meminfo_kib(&meminfo, "MemAvailable") * 1024,
            disk_bytes,
            disk_available_bytes,
            pid_max: read_trimmed("/proc/sys/kernel/pid_max").parse().unwrap_or(32768),
            processes: count_processes(),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            os_image: os_image(&std::fs::read_to_string("/etc/os-release").unwrap_or_default()),
            machine_id: read_trimmed("/etc/machine-id"),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            arch: go_arch(std::env::consts::ARCH),
        }
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

fn meminfo_kib(meminfo: &str, key: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `PRETTY_NAME` of os-release, as kubelet reports it.
fn os_image(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".to_string())
}

fn count_processes() -> u64 {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
                .count()
        })
        .unwrap_or(0) as u64
}

/// Kubernetes names architectures as Go does.
pub fn go_arch(rust_arch: &str) -> &'static str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo_and_os_release() {
        let m = "MemTotal:       24576000 kB\nMemFree:  1 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(meminfo_kib(m, "MemTotal"), 24_576_000);
        assert_eq!(meminfo_kib(m, "MemAvailable"), 20_000_000);
        assert_eq!(
            os_image("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
    }

    #[test]
    fn reads_this_machine() {
        let h = Host::read(Path::new("/"));
        assert!(h.cpus >= 1 && h.memory_bytes > 0 && h.disk_bytes > 0);
        assert!(!h.kernel.is_empty());
    }
}
